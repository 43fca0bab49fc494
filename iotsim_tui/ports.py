"""Free TCP ports on this machine, picked where the system does not hand out its own.

A port the system gives for `bind(port 0)` comes from its ephemeral range, the range it also
takes the local port of every outgoing connection from. Between picking such a port and the
broker binding it, one of the many connections a fleet of devices opens on loopback can take
that very port, and the broker then finds it in use. Ports below the range are only ever
taken by a program that binds them on purpose, so one picked there (at random, and seen free)
stays free unless another program picks the same one.
"""

from __future__ import annotations

import errno
import random
import socket
from pathlib import Path

LOWEST = 20_000
"""The lowest port picked: well above the ports of common services."""
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
TRIES = 200
"""Random ports tried before asking the system for one of its own."""

_random = random.SystemRandom()


def ephemeral_range() -> tuple[int, int]:
    """The ports the system hands out itself (Linux's defaults where it does not say)."""
    try:
        low, high = (int(word) for word in EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return 32_768, 60_999
    return low, high


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that nothing uses now, below the system's ephemeral range.

    Raises OSError when `host` is no address of this machine.
    """
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """`count` different TCP ports on `host` that nothing uses now (see `free_port`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    low = max(LOWEST, 1024)
    high = ephemeral_range()[0] - 1
    chosen: list[int] = []
    for _ in range(TRIES):
        if len(chosen) == count or high - low < count:
            break
        port = _random.randint(low, high)
        if port not in chosen and _bindable(family, host, port):
            chosen.append(port)
    while len(chosen) < count:  # a machine whose ephemeral range leaves no room below it
        port = _system_port(family, host)
        if port not in chosen:
            chosen.append(port)
    return chosen


def _bindable(family: socket.AddressFamily, host: str, port: int) -> bool:
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
        return True


def _system_port(family: socket.AddressFamily, host: str) -> int:
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port
