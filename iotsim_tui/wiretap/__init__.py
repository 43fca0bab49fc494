"""Eavesdrop without root: a loopback relay that records what a sniffer would see.

`Eavesdrop` relays devices to their broker byte for byte and records each connection;
`dissect` turns the bytes into items (MQTT in clear, TLS records); `pcap` writes them as a
capture file for Wireshark. Nothing here imports textual.
"""

from __future__ import annotations

from iotsim_tui.wiretap.items import Field, WireItem, hexdump
from iotsim_tui.wiretap.loopback import ItemFeed
from iotsim_tui.wiretap.pcap import PcapSummary, write_pcap
from iotsim_tui.wiretap.relay import Eavesdrop
from iotsim_tui.wiretap.store import ConnectionInfo, Direction, Limits

__all__ = [
    "ConnectionInfo",
    "Direction",
    "Eavesdrop",
    "Field",
    "ItemFeed",
    "Limits",
    "PcapSummary",
    "WireItem",
    "hexdump",
    "write_pcap",
]
