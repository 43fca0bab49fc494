"""Which part of which run a summary is, and the shards' summaries read back and checked.

`run --summary FILE` writes, besides the figures, what `merge` needs to know that the files it
is given are the shards of one run and cover it exactly once:

```json
"shard": {"index": 2, "count": 3},
"profile": {"file": "fleet.toml", "sha256": "...", "devices": 1000, "selected": null},
"window": {"started_at": 1765049000.0, "stopped_at": 1765049060.0}
```

`shard` is 1-based (a run without `--shard` is 1 of 1), `sha256` is that of the profile file's
bytes (the same file on every host), `devices` how many the profile has and `selected` the ids
given with `--device`, if any. `window` is when the shard's devices ran, in seconds since the
epoch (`time.time()` on its host).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iotsim_tui.engine import Ledger, Summary
from iotsim_tui.engine.histogram import Histogram
from iotsim_tui.errors import UsageError
from iotsim_tui.profiles.model import Network
from iotsim_tui.words import agreeing, counted


def shard_fields(
    profile: Path,
    network: Network,
    shard: tuple[int, int] | None,
    selected: Sequence[str] | None,
    window: tuple[float, float] | None,
) -> dict[str, Any]:
    """What a run's summary says about the run it is part of (`shard` is 0-based here)."""
    index, count = shard or (0, 1)
    try:
        digest = hashlib.sha256(profile.read_bytes()).hexdigest()
    except OSError:
        digest = None
    return {
        "shard": {"index": index + 1, "count": count},
        "profile": {
            "file": str(profile),
            "sha256": digest,
            # Counted, not expanded: a shard's summary costs no memory for the other shards.
            "devices": len(network.devices) + sum(t.count for t in network.templates),
            "selected": sorted(set(selected)) if selected else None,
        },
        "window": None
        if window is None
        else {"started_at": round(window[0], 3), "stopped_at": round(window[1], 3)},
    }


@dataclass(frozen=True)
class ShardSummary:
    """One shard's summary file, read and checked."""

    file: str
    index: int
    """1-based, as the file says it."""
    count: int
    network: str
    profile: Mapping[str, Any]
    window: tuple[float, float] | None
    seconds: float
    interrupted: bool
    summary: Summary

    @property
    def covers(self) -> int:
        """How many devices the whole run has (every shard together)."""
        selected = self.profile.get("selected")
        return len(selected) if selected else int(self.profile["devices"])


class _Reader:
    """Typed access to one file's JSON, each mistake named by file and key."""

    def __init__(self, file: str, record: Mapping[str, Any]) -> None:
        self.file = file
        self.record = record

    def get(self, key: str) -> Any:
        value: Any = self.record
        for part in key.split("."):
            if not isinstance(value, Mapping) or part not in value:
                raise UsageError(f"{self.file}: {key}: missing (not a summary of `run --summary`)")
            value = value[part]
        return value

    def number(self, key: str) -> float:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError(f"{self.file}: {key}: {value!r} is not a number")
        return float(value)

    def count(self, key: str) -> int:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UsageError(f"{self.file}: {key}: {value!r} is not a count")
        return value

    def optional(self, key: str) -> float | None:
        return None if self.get(key) is None else self.number(key)

    def counts(self, key: str) -> dict[str, int]:
        value = self.get(key)
        if not isinstance(value, Mapping) or not all(
            isinstance(n, int) and not isinstance(n, bool) for n in value.values()
        ):
            raise UsageError(f"{self.file}: {key}: not a table of counts")
        return {str(name): n for name, n in value.items()}

    def histogram(self, key: str) -> Histogram:
        try:
            return Histogram.from_json(self.get(key))
        except (ValueError, AttributeError) as error:
            raise UsageError(f"{self.file}: {key}: {error}") from None


def read_summary(path: Path) -> ShardSummary:
    """A shard's summary file; `UsageError` naming the file and the key when it is not one."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise UsageError(f"{path}: cannot read it: {error.strerror or error}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: not JSON: {error}") from None
    if not isinstance(record, dict) or record.get("type") != "summary":
        raise UsageError(f"{path}: not a summary written by `iotsim-tui run --summary FILE`")
    read = _Reader(str(path), record)
    if "merged" in record:
        raise UsageError(
            f"{path}: a merged summary already (of {counted(len(record['merged']), 'shard')}); "
            "give the shards' own files"
        )
    if "shard" not in record:
        raise UsageError(
            f"{path}: does not say which shard it is (written by an older iotsim-tui): run "
            "the shards again with this version"
        )
    index, count = read.count("shard.index"), read.count("shard.count")
    if not 1 <= index <= count:
        raise UsageError(f"{path}: shard: {index}/{count} is not a shard I/N")
    profile = read.get("profile")
    read.count("profile.devices")
    window = None
    if read.get("window") is not None:
        window = (read.number("window.started_at"), read.number("window.stopped_at"))
    seconds = read.optional("seconds") or 0.0
    return ShardSummary(
        file=str(path),
        index=index,
        count=count,
        network=str(read.get("network")),
        profile=profile,
        window=window,
        seconds=seconds,
        interrupted=bool(read.get("interrupted")),
        summary=_summary(read),
    )


def _summary(read: _Reader) -> Summary:
    """The engine's summary again, from the figures `summary_record` wrote."""
    longest = read.get("outages.longest")
    try:
        outages = tuple((str(o["device"]), float(o["seconds"])) for o in longest)
    except (TypeError, KeyError, ValueError):
        raise UsageError(
            f"{read.file}: outages.longest: not a list of devices and seconds"
        ) from None
    samples = read.get("error_samples")
    return Summary(
        devices=read.count("devices"),
        connected=read.count("connected"),
        errors=read.count("errors"),
        failed=read.count("failed"),
        recovered=read.count("recovered"),
        messages_out=read.count("messages.sent"),
        messages_in=read.count("messages.received"),
        rate_out=read.number("messages.last_interval.sent_per_second"),
        rate_in=read.number("messages.last_interval.received_per_second"),
        ledger=Ledger(
            accepted=read.count("ledger.accepted"),
            acknowledged=read.count("ledger.acknowledged"),
            queued=read.count("ledger.queued"),
            dropped=read.count("ledger.dropped"),
            drop_reasons=read.counts("ledger.drop_reasons"),
        ),
        events_dropped=read.count("events_dropped"),
        error_samples=tuple(str(s) for s in samples) if isinstance(samples, list) else (),
        started_at=read.optional("connections.started_at"),
        connections=read.count("connections.accepted"),
        first_connections=read.count("connections.devices"),
        last_first_connect_at=read.optional("connections.last_first_connect_at"),
        connect_time=read.histogram("connections.connect_time.histogram"),
        latency=read.histogram("latency.histogram"),
        probe=str(read.get("latency.probe") or ""),
        errors_by_kind=read.counts("errors_by_kind"),
        offline_devices=read.count("outages.devices"),
        offline_seconds=read.number("outages.seconds"),
        outages=outages,
    )


def check_coverage(shards: Sequence[ShardSummary]) -> None:
    """`UsageError` unless the shards are of one run and cover it exactly once, naming the
    files at fault: another profile or network, another number of shards, a shard given
    twice, a shard missing, or devices that do not add up."""
    first = shards[0]
    for shard in shards[1:]:
        for what, mine, theirs in (
            ("network", shard.network, first.network),
            (
                "profile (sha256 of its file)",
                shard.profile.get("sha256"),
                first.profile.get("sha256"),
            ),
            (
                "devices chosen with --device",
                shard.profile.get("selected"),
                first.profile.get("selected"),
            ),
        ):
            if mine != theirs:
                raise UsageError(
                    f"{shard.file} and {first.file} are not shards of one run: another "
                    f"{what} ({_short(mine)} and {_short(theirs)})"
                )
    counts: dict[int, list[str]] = {}
    for shard in shards:
        counts.setdefault(shard.count, []).append(f"{shard.file} ({shard.index}/{shard.count})")
    if len(counts) > 1:
        shown = "; ".join(f"of {n}: {', '.join(files)}" for n, files in sorted(counts.items()))
        raise UsageError(f"the summaries are shards of different numbers of shards: {shown}")
    given: dict[int, list[str]] = {}
    for shard in shards:
        given.setdefault(shard.index, []).append(shard.file)
    twice = [
        f"{i}/{first.count} in {' and '.join(files)}"
        for i, files in given.items()
        if len(files) > 1
    ]
    if twice:
        raise UsageError(f"a shard is given twice: {'; '.join(sorted(twice))}")
    missing = [str(i) for i in range(1, first.count + 1) if i not in given]
    if missing:
        files = ", ".join(shard.file for shard in shards)
        which = agreeing(len(missing), "shard", "shards")
        raise UsageError(
            f"{which} {', '.join(missing)} of {first.count} "
            f"{agreeing(len(missing), 'is', 'are')} missing (given: {files}): the merge would "
            "leave out their devices"
        )
    devices = sum(shard.summary.devices for shard in shards)
    if devices != first.covers:
        raise UsageError(
            f"the shards ran {counted(devices, 'device')} but the run has {first.covers:,} "
            f"({', '.join(f'{s.file}: {s.summary.devices:,}' for s in shards)})"
        )


def _short(value: object) -> str:
    text = "none" if value is None else str(value)
    return text if len(text) <= 16 else text[:12] + "..."


def running_seconds(windows: Sequence[tuple[float, float]]) -> float:
    """Seconds during which at least one of the windows was open (their union's length)."""
    total = 0.0
    end = float("-inf")
    for start, stop in sorted(windows):
        if stop <= end:
            continue
        total += stop - max(start, end)
        end = stop
    return total
