"""`iotsim-tui record`: write every message seen on a broker to a recording (JSON lines).

    iotsim-tui record profiles/health_care.toml --out hall.jsonl --duration 60
    iotsim-tui record --host 127.0.0.1 --port 1883 --topic 'hall/#' --out hall.jsonl
    iotsim-tui record --from-pcap capture.pcap --out hall.jsonl

With a PROFILE whose broker is the bundled one, the broker is started as `run` starts it
(unless one already listens there). It stops at Ctrl-C, after --duration or --count.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from contextlib import AsyncExitStack
from pathlib import Path
from typing import IO

from iotsim_tui.errors import UsageError
from iotsim_tui.words import counted


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `iotsim-tui record`."""
    parser.epilog = (
        "Each line of the recording is one message: time, topic, qos, retain, payload (text, "
        'or base64 with "encoding": "base64") and MQTT 5 properties. Exit codes: 0 '
        "recorded, 1 the broker could not be reached or went away, 2 bad usage."
    )
    parser.add_argument(
        "profile", nargs="?", type=Path, metavar="PROFILE", help="record this network's broker"
    )
    parser.add_argument("--host", help="the broker's host (instead of, or over, the profile's)")
    parser.add_argument("--port", type=int, help="the broker's port")
    parser.add_argument(
        "--protocol",
        choices=("3.1.1", "5"),
        help="MQTT version of the recorder (default: the profile's; 5 with --host)",
    )
    parser.add_argument(
        "--topic",
        dest="topics",
        action="append",
        metavar="FILTER",
        help="record only what matches this MQTT filter (repeat for more; default '#')",
    )
    parser.add_argument(
        "--out", type=Path, required=True, metavar="FILE", help="the recording ('-': stdout)"
    )
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")
    parser.add_argument("--count", type=int, metavar="N", help="stop after N messages")
    parser.add_argument(
        "--from-pcap",
        type=Path,
        metavar="FILE",
        help="read the messages from a capture (pcap, MQTT in clear) instead of a broker",
    )
    parser.add_argument(
        "--no-broker",
        action="store_true",
        help="do not start the bundled broker, even when the profile asks for it",
    )


def run(args: argparse.Namespace) -> int:
    """Record; returns 0 once the recording is written."""
    if args.from_pcap is not None:
        return _from_pcap(args.from_pcap, args.out)
    if args.duration is not None and args.duration <= 0:
        raise UsageError("--duration must be more than 0 seconds")
    if args.count is not None and args.count <= 0:
        raise UsageError("--count must be at least 1")
    from iotsim_tui.profiles.load import load_network
    from iotsim_tui.traffic.connect import broker_settings
    from iotsim_tui.traffic.record import check_filters

    network = load_network(args.profile) if args.profile is not None else None
    broker = broker_settings(network, args.host, args.port, args.protocol)
    check_filters(args.topics or ())
    return asyncio.run(_record(args, network, broker))


async def _record(args: argparse.Namespace, network: object, broker: object) -> int:
    from iotsim_tui.profiles.model import BrokerSettings, Network
    from iotsim_tui.traffic.connect import start_bundled_broker, where
    from iotsim_tui.traffic.record import ALL_TOPICS, record

    assert isinstance(broker, BrokerSettings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with AsyncExitStack() as stack:
        if isinstance(network, Network) and not args.no_broker and args.host is None:
            await start_bundled_broker(stack, network)
        out = _open(args.out)
        try:
            total = await record(
                broker,
                out,
                filters=args.topics or ALL_TOPICS,
                stop=stop,
                duration=args.duration,
                count=args.count,
                ready=lambda: print(f"recording {where(broker)} to {args.out}", file=sys.stderr),
            )
        finally:
            if out is not sys.stdout:
                out.close()
    print(
        f"recorded {counted(total.messages, 'message')} on {counted(total.topics, 'topic')} "
        f"to {args.out}",
        file=sys.stderr,
    )
    return 0


def _open(path: Path) -> IO[str]:
    if str(path) == "-":
        return sys.stdout
    try:
        return path.open("w", encoding="utf-8", newline="\n")
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror}") from None


def _from_pcap(capture: Path, path: Path) -> int:
    from iotsim_tui.traffic.from_pcap import read_pcap
    from iotsim_tui.traffic.recording import to_line

    reading = read_pcap(capture)
    out = _open(path)
    try:
        out.writelines(to_line(message) for message in reading.messages)
    finally:
        if out is not sys.stdout:
            out.close()
    for problem in reading.problems:
        print(f"{capture}: {problem}", file=sys.stderr)
    skipped = f", {counted(reading.skipped, 'connection')} not MQTT in clear (skipped)"
    print(
        f"{counted(len(reading.messages), 'message')} from "
        f"{counted(reading.connections, 'MQTT connection')}"
        f"{skipped if reading.skipped else ''} written to {path}",
        file=sys.stderr,
    )
    return 0
