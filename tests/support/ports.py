"""Free loopback ports, picked at run time (below the system's ephemeral range: see
iotsim_tui/ports.py), and waiting for a port to open."""

from __future__ import annotations

import socket
import time

from iotsim_tui.ports import free_port, free_ports

__all__ = ["free_port", "free_ports", "wait_for_port"]


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    """Return once something accepts TCP connections on host:port, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s") from None
            time.sleep(0.02)
