"""What a headless run was asked to do, checked once."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

from iotsim_tui.errors import UsageError
from iotsim_tui.profiles.model import Network

MAX_WORKERS = 64


def parse_shard(text: str) -> tuple[int, int]:
    """`"2/4"` -> `(1, 4)`: the 0-based slice index and the number of slices."""
    index, slash, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not I/N, as in 1/4") from None
    if not slash or n < 1 or not 1 <= i <= n:
        raise argparse.ArgumentTypeError(f"{text!r}: I must be between 1 and N, as in 1/4")
    return i - 1, n


@dataclass(frozen=True)
class RunOptions:
    """The options of one headless run (picklable: worker processes get a copy)."""

    profile: Path
    host: str | None = None
    port: int | None = None
    duration: float | None = None
    devices: tuple[str, ...] | None = None
    json: bool = False
    workers: int = 1
    shard: tuple[int, int] | None = None
    eavesdrop: bool = False
    pcap: Path | None = None
    start_broker: bool = True
    summary: Path | None = None
    """Where to write the JSON summary."""
    probe: bool = True
    """Time a sample of the telemetry from publish to delivery (the latency probe)."""

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> RunOptions:
        """Options from the command line; `UsageError` for combinations that make no sense."""
        options = cls(
            profile=args.profile,
            host=args.host,
            port=args.port,
            duration=args.duration,
            devices=tuple(args.devices) if args.devices else None,
            json=args.json,
            workers=args.workers,
            shard=args.shard,
            # A capture comes from the relay: asking for one asks for the relay.
            eavesdrop=args.eavesdrop or args.pcap is not None,
            pcap=args.pcap,
            start_broker=not args.no_broker,
            summary=args.summary,
            probe=not args.no_probe,
        )
        options.check()
        return options

    def check(self) -> None:
        """Raise `UsageError` naming the option that cannot be used."""
        if self.port is not None and not 1 <= self.port <= 65535:
            raise UsageError(f"--port {self.port}: a port is between 1 and 65535")
        if self.duration is not None and self.duration <= 0:
            raise UsageError(f"--duration {self.duration:g}: give a number of seconds above 0")
        if not 1 <= self.workers <= MAX_WORKERS:
            raise UsageError(f"--workers {self.workers}: give 1 to {MAX_WORKERS} processes")
        if self.pcap is not None and not self.eavesdrop:
            raise UsageError("--pcap needs the eavesdrop relay (the capture comes from it)")

    def apply(self, network: Network) -> Network:
        """The network with `--host` and `--port` applied."""
        broker = network.broker
        if self.host is not None:
            broker = replace(broker, host=self.host)
        if self.port is not None:
            broker = replace(broker, port=self.port)
        return replace(network, broker=broker)

    def worker_shard(self, worker: int) -> tuple[int, int] | None:
        """The slice worker `worker` of `workers` runs, inside this run's own `--shard`."""
        index, count = self.shard or (0, 1)
        if self.workers == 1:
            return self.shard
        # Worker w takes every (count * workers)-th device starting at index + w * count: the
        # workers' slices together are exactly this run's slice.
        return index + worker * count, count * self.workers
