"""`iotsim-tui replay`: publish a recording again, with its timing.

    iotsim-tui replay hall.jsonl --host 127.0.0.1 --port 1883 --speed 2 --loop

The recording is checked whole before the first message is sent: a bad line stops the
replay before it starts, naming the line. When the broker refuses a message or goes away
half way, the error names the line and how many messages went out.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from iotsim_tui.errors import UsageError
from iotsim_tui.words import counted


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `iotsim-tui replay`."""
    parser.epilog = (
        "Exit codes: 0 replayed (with --loop: stopped by Ctrl-C or SIGTERM), 1 a bad recording "
        "(file:line) or the broker refused or lost a message (the line is named), 2 bad "
        "usage, 130 stopped by Ctrl-C before the end."
    )
    parser.add_argument("recording", type=Path, metavar="FILE", help="a recording (JSON lines)")
    parser.add_argument(
        "profile", nargs="?", type=Path, metavar="PROFILE", help="replay to this network's broker"
    )
    parser.add_argument("--host", help="the broker's host (instead of, or over, the profile's)")
    parser.add_argument("--port", type=int, help="the broker's port")
    parser.add_argument(
        "--protocol",
        choices=("3.1.1", "5"),
        help="MQTT version (default: the profile's; 5 with --host); 3.1.1 drops properties",
    )
    parser.add_argument(
        "--speed", type=float, default=1.0, metavar="X", help="play X times faster (default 1)"
    )
    parser.add_argument("--loop", action="store_true", help="start again at the end, until Ctrl-C")


def run(args: argparse.Namespace) -> int:
    """Replay; returns 0 once every message was sent (130 when Ctrl-C cut it short)."""
    if not args.speed > 0:
        raise UsageError(f"--speed must be more than 0, not {args.speed}")
    from iotsim_tui.profiles.load import load_network
    from iotsim_tui.traffic.connect import broker_settings
    from iotsim_tui.traffic.recording import check_recording

    network = load_network(args.profile) if args.profile is not None else None
    broker = broker_settings(network, args.host, args.port, args.protocol)
    messages, seconds = check_recording(args.recording)
    print(
        f"replaying {counted(messages, 'message')} over {seconds / args.speed:.1f} s",
        file=sys.stderr,
    )
    return asyncio.run(_replay(args, broker))


async def _replay(args: argparse.Namespace, broker: object) -> int:
    from iotsim_tui.profiles.model import BrokerSettings
    from iotsim_tui.traffic.connect import where
    from iotsim_tui.traffic.replay import replay

    assert isinstance(broker, BrokerSettings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    count = await replay(broker, args.recording, speed=args.speed, loop=args.loop, stop=stop)
    dropped = (
        f" ({counted(count.properties_dropped, 'message')} lost their MQTT 5 properties on 3.1.1)"
        if count.properties_dropped
        else ""
    )
    print(
        f"sent {counted(count.messages, 'message')} to {where(broker)} in "
        f"{counted(count.passes, 'pass', 'passes')}{dropped}",
        file=sys.stderr,
    )
    # With --loop, stopping is how a replay ends; otherwise it was cut short.
    return 130 if stop.is_set() and not args.loop else 0
