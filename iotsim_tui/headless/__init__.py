"""`iotsim-tui run PROFILE`: a network's devices without a screen.

A progress bar while the devices connect, a live summary line, and a final summary; or, with
`--json`, every event as one JSON line for scripts. `--workers N` spreads the devices over N
processes with one combined summary; `--shard i/n` runs one slice of a network that several
hosts share. The exit code is 0 when every device ran without an error (or every one that
lost its connection got it back with nothing dropped: a warning), 1 otherwise, and 130
when Ctrl-C stopped the run (the summary is still printed). `--summary FILE` writes the
final summary as JSON (headless/report.py).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from iotsim_tui.headless.options import RunOptions, parse_shard


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `iotsim-tui run`."""
    parser.epilog = (
        "Exit codes: 0 every device ran without an error, or those that lost the broker "
        "connected again with nothing dropped (a warning); 1 a device failed; "
        "2 bad usage; 130 stopped by Ctrl-C (or SIGTERM) before --duration ended, "
        "after printing the summary."
    )
    parser.add_argument("profile", type=Path, metavar="PROFILE", help="network profile (TOML)")
    parser.add_argument("--host", help="connect to this broker host instead of the profile's")
    parser.add_argument("--port", type=int, help="connect to this port instead of the profile's")
    parser.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="stop the devices S seconds after they start connecting (default: at Ctrl-C); "
        "the connection ramp counts, starting the broker or the workers before it and the "
        "devices' clean disconnect after it do not; the summary's 'ran for' is this time",
    )
    parser.add_argument(
        "--device",
        dest="devices",
        action="append",
        metavar="ID",
        help="run only this device (repeat for more)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the events as JSON lines instead of progress"
    )
    parser.add_argument(
        "--workers", type=int, default=1, metavar="N", help="spread the devices over N processes"
    )
    parser.add_argument(
        "--shard",
        type=parse_shard,
        metavar="I/N",
        help="run only slice I of N (1-based) of the devices, for runs shared by N hosts",
    )
    parser.add_argument(
        "--eavesdrop",
        action="store_true",
        help="relay the devices' connections through the eavesdrop recorder",
    )
    parser.add_argument(
        "--pcap",
        type=Path,
        metavar="FILE",
        help="write the capture here when the run ends (implies --eavesdrop)",
    )
    parser.add_argument(
        "--summary",
        type=Path,
        metavar="FILE",
        help="also write the final summary here as JSON (figures, histograms, ledger), "
        "to compare or merge runs",
    )
    parser.add_argument(
        "--no-probe",
        action="store_true",
        help="do not time publish-to-delivery latency (the probe is one more MQTT client, "
        "subscribed to the telemetry of up to 20 devices)",
    )
    parser.add_argument(
        "--no-broker",
        action="store_true",
        help="do not start the bundled broker, even when the profile asks for it",
    )


def run(args: argparse.Namespace) -> int:
    """Run the network; returns 0 when every device ran without an error, 1 otherwise, 130
    when interrupted."""
    from iotsim_tui.headless.main import run_headless

    return run_headless(RunOptions.from_args(args))


__all__ = ["add_arguments", "run"]
