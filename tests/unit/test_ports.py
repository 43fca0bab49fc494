"""Free ports are picked below the system's ephemeral range, free, and different."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from iotsim_tui import ports
from iotsim_tui.ports import ephemeral_range, free_port, free_ports


def _range_file(tmp_path: Path, low: int, high: int, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ip_local_port_range"
    path.write_text(f"{low}\t{high}\n")
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE_FILE", path)


def test_ports_come_from_below_the_ephemeral_range_and_can_be_bound() -> None:
    low, _ = ephemeral_range()
    picked = free_ports(20)
    assert len(set(picked)) == 20
    for port in picked:
        assert ports.LOWEST <= port < low
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_port_in_use_is_not_picked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:
        for _ in range(20):  # a port whose next one is free too
            taken = free_port()
            try:
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", taken + 1))
            except OSError:
                continue
            listener.bind(("127.0.0.1", taken))
            break
        listener.listen()
        # Only `taken` and the port after it lie below the range: the free one must come.
        monkeypatch.setattr(ports, "LOWEST", taken)
        _range_file(tmp_path, taken + 2, 60999, monkeypatch)
        assert {free_port() for _ in range(10)} == {taken + 1}


def test_without_room_below_the_range_the_system_picks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _range_file(tmp_path, 1024, 65535, monkeypatch)
    picked = free_ports(3)
    assert len(set(picked)) == 3


def test_an_address_of_another_machine_is_an_error() -> None:
    with pytest.raises(OSError, match="assign"):
        free_port("192.0.2.1")  # TEST-NET-1: bind fails, nothing is sent
