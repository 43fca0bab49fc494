"""`iotsim-tui merge`: the path of a run on several machines, on this one.

Each "machine" is a `run --shard I/N` process against its own mosquitto instance (one per
node of a cluster behind a load balancer, as docs/scale-out.md describes); their summary
files are merged, and the merge must equal what the files add up to, with percentiles those
of the pooled histograms. Then the files a merge must refuse, each named in the message.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from iotsim_tui.cli import main
from iotsim_tui.engine.histogram import Histogram
from iotsim_tui.headless.shards import running_seconds
from tests.support.mosquitto import RunningMosquitto, mosquitto_path, run_mosquitto
from tests.support.ports import free_port
from tests.unit.test_headless import ROOT, TIMEOUT

SHARDS = 3
DEVICES = 31
"""Not a multiple of SHARDS: the shards have different numbers of devices (11, 10, 10)."""

PROFILE = """
[network]
name = "SPREAD"

[network.broker]
host = "127.0.0.1"
port = 1
bundled = false
client_id_prefix = "spread-"

[network.ramp]
rate = 1000.0
in_flight = 100

[[templates]]
name = "Meter {{n}}"
id = "M{{n}}"
count = {count}
subscribe = [{{ topic = "spread/{{id}}", qos = 1, on = "start" }}]

[[templates.telemetry]]
topic = "spread/{{id}}"
interval = 0.2
qos = 1

[templates.telemetry.fields]
n = {{ kind = "counter" }}
"""


@dataclass(frozen=True)
class Shards:
    """The summary files of one run in shards, and the shards' exit codes."""

    folder: Path
    files: list[Path]
    codes: list[int]


def _start_shard(profile: Path, shard: str, port: int, summary: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "iotsim_tui", "run", str(profile), "--shard", shard),
            *("--host", "127.0.0.1", "--port", str(port), "--no-broker", "--duration", "2"),
            *("--summary", str(summary)),
        ],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Shards]]:
    """Two runs at once: SPREAD in 3 shards against 3 mosquitto instances, and FAILING in 2
    shards, the second of which points at a port nothing listens on."""
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    folder = tmp_path_factory.mktemp("shards")
    spread = folder / "spread.toml"
    spread.write_text(PROFILE.format(count=DEVICES))
    failing = folder / "failing.toml"
    # Its own client ids and topics: it shares the first broker with SPREAD's first shard.
    failing.write_text(
        PROFILE.format(count=4).replace("SPREAD", "FAILING").replace("spread", "failing")
    )
    with ExitStack() as stack:
        brokers = [stack.enter_context(run_mosquitto(folder)) for _ in range(SHARDS)]
        started: dict[str, list[tuple[Path, subprocess.Popen[str]]]] = {"spread": [], "failing": []}
        for i, broker in enumerate(brokers, start=1):
            summary = folder / f"spread-{i}.json"
            shard = _start_shard(spread, f"{i}/{SHARDS}", broker.port, summary)
            started["spread"].append((summary, shard))
        for i, port in enumerate((brokers[0].port, free_port()), start=1):
            summary = folder / f"failing-{i}.json"
            started["failing"].append((summary, _start_shard(failing, f"{i}/2", port, summary)))
        done = {}
        for name, shards in started.items():
            codes = []
            for summary, process in shards:
                output, _ = process.communicate(timeout=TIMEOUT)
                assert summary.exists(), output
                codes.append(process.returncode)
            done[name] = Shards(folder, [summary for summary, _ in shards], codes)
        yield done


def _merge(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iotsim_tui", "merge", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def _load(path: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(path.read_text())
    return record


def _pooled(records: list[dict[str, Any]], *keys: str) -> Histogram:
    pooled = Histogram()
    for record in records:
        value: Any = record
        for key in keys:
            value = value[key]
        pooled.merge(Histogram.from_json(value))
    return pooled


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


@pytest.mark.slow
def test_the_merge_of_shards_run_against_broker_instances_is_their_sum(
    runs: dict[str, Shards], tmp_path: Path
) -> None:
    shards = runs["spread"]
    assert shards.codes == [0] * SHARDS
    # Given out of order: the merge sorts them by shard.
    out = tmp_path / "merged.json"
    done = _merge(*reversed(shards.files), "--json", "--out", out)
    assert done.returncode == 0, done.stderr
    merged = json.loads(done.stdout)
    assert _load(out) == merged
    parts = [_load(path) for path in shards.files]
    assert [p["shard"] for p in parts] == [{"index": i, "count": SHARDS} for i in (1, 2, 3)]
    assert [p["devices"] for p in parts] == [11, 10, 10]

    def total(*keys: str) -> int:
        def one(record: dict[str, Any]) -> int:
            value: Any = record
            for key in keys:
                value = value[key]
            assert isinstance(value, int)
            return value

        return sum(one(part) for part in parts)

    assert merged["devices"] == DEVICES == merged["connected"]
    for keys in [
        ("messages", "sent"),
        ("messages", "received"),
        ("connections", "accepted"),
        ("connections", "devices"),
        ("ledger", "accepted"),
        ("ledger", "acknowledged"),
        ("ledger", "queued"),
        ("ledger", "dropped"),
        ("latency", "count"),
    ]:
        value: Any = merged
        for key in keys:
            value = value[key]
        assert value == total(*keys), keys
    # Each device receives its own telemetry: the fleet delivered what it sent.
    assert merged["messages"]["sent"] >= DEVICES * 5
    assert merged["messages"]["received"] >= merged["messages"]["sent"] - DEVICES
    # Percentiles from the pooled histograms, not an average of the shards' percentiles.
    for keys in [("connections", "connect_time"), ("latency",)]:
        pooled = _pooled(parts, *keys, "histogram")
        figures: Any = merged
        for key in keys:
            figures = figures[key]
        assert Histogram.from_json(figures["histogram"]).buckets == pooled.buckets
        for p in (50, 95, 99):
            assert figures[f"p{p}_ms"] == _ms(pooled.percentile(p)), (keys, p)
    # Rates over the time at least one shard ran.
    windows = [(p["window"]["started_at"], p["window"]["stopped_at"]) for p in parts]
    running = running_seconds(windows)
    assert merged["seconds"] == round(running, 3)
    assert running >= max(p["seconds"] for p in parts) - 0.01
    sent = merged["messages"]["sent"]
    assert merged["messages"]["sent_per_second"] == pytest.approx(sent / running, rel=1e-3)
    assert merged["profile"] == parts[0]["profile"]
    assert [m["file"] for m in merged["merged"]] == [str(path) for path in shards.files]
    assert merged["ok"] is True

    text = _merge(*shards.files)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].startswith(f"merged 3 shards of {shards.folder / 'spread.toml'}")
    assert "union of their windows" in lines[1]
    assert f"SPREAD: {DEVICES} devices ran for {running:.1f} s" in lines[2]
    assert f"messages: {sent:,} published" in text.stdout
    assert lines[-1] == "result: ok", text.stdout


@pytest.mark.slow
def test_a_failed_shard_makes_the_merge_fail_with_its_errors_by_kind(
    runs: dict[str, Shards],
) -> None:
    shards = runs["failing"]
    assert shards.codes == [0, 1]
    done = _merge(*shards.files, "--json")
    assert done.returncode == 1, done.stderr
    merged = json.loads(done.stdout)
    parts = [_load(path) for path in shards.files]
    assert parts[1]["errors_by_kind"], parts[1]
    kinds: dict[str, int] = {}
    for part in parts:
        for kind, count in part["errors_by_kind"].items():
            kinds[kind] = kinds.get(kind, 0) + count
    assert merged["errors_by_kind"] == kinds
    # The second shard's two devices never reached a broker; the first shard's two did.
    assert (merged["devices"], merged["connected"], merged["failed"]) == (4, 2, 2)
    assert merged["ok"] is False
    text = _merge(*shards.files)
    assert text.stdout.splitlines()[-1] == "result: errors (exit code 1)"
    assert "errors by kind:" in text.stdout


def _copy(source: Path, target: Path, **changes: Any) -> Path:
    record = _load(source)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        holder = record
        for key in parents:
            holder = holder[key]
        if value is None:
            del holder[last]
        else:
            holder[last] = value
    target.write_text(json.dumps(record))
    return target


def _refused(capsys: pytest.CaptureFixture[str], *files: Path) -> str:
    assert main(["merge", *map(str, files)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


@pytest.mark.slow
def test_files_that_do_not_cover_the_run_exactly_once_are_refused_by_name(
    runs: dict[str, Shards], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two, three = runs["spread"].files
    error = _refused(capsys, one, three)
    assert f"shard 2 of 3 is missing (given: {one}, {three})" in error
    error = _refused(capsys, one, two, three, two)
    assert f"a shard is given twice: 2/3 in {two} and {two}" in error
    four = _copy(three, tmp_path / "of-four.json", shard__count=4)
    error = _refused(capsys, one, two, four)
    assert "different numbers of shards" in error
    assert f"of 3: {one} (1/3), {two} (2/3); of 4: {four} (3/4)" in error
    other = _copy(three, tmp_path / "other.json", profile__sha256="0" * 64)
    error = _refused(capsys, one, two, other)
    assert f"{other} and {one} are not shards of one run: another profile" in error
    failing = runs["failing"].files[1]
    error = _refused(capsys, one, failing)
    assert f"{failing} and {one} are not shards of one run: another network" in error
    fewer = _copy(three, tmp_path / "fewer.json", devices=9)
    error = _refused(capsys, one, two, fewer)
    assert "the shards ran 30 devices but the run has 31" in error


def test_files_that_are_not_shard_summaries_are_refused_by_name_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "summary",')
    assert "broken.json: not JSON" in _refused(capsys, broken)
    events = tmp_path / "events.json"
    events.write_text('{"type": "status"}')
    assert "events.json: not a summary written by `iotsim-tui run" in _refused(capsys, events)
    absent = tmp_path / "absent.json"
    assert "absent.json: cannot read it" in _refused(capsys, absent)
    old = tmp_path / "old.json"
    old.write_text('{"type": "summary", "devices": 3}')
    assert "old.json: does not say which shard it is" in _refused(capsys, old)


@pytest.mark.slow
def test_a_damaged_figure_is_named_and_a_merged_file_is_not_a_shard(
    runs: dict[str, Shards], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one, two, three = runs["spread"].files
    damaged = _copy(three, tmp_path / "damaged.json", ledger__dropped="none")
    assert f"{damaged}: ledger.dropped: 'none' is not a count" in _refused(
        capsys, one, two, damaged
    )
    odd = _copy(three, tmp_path / "odd.json", outages__longest=[{"device": "S1"}])
    assert f"{odd}: outages.longest: not a list of devices" in _refused(capsys, one, two, odd)
    cut = _copy(three, tmp_path / "cut.json", latency__histogram__buckets=None)
    assert f"{cut}: latency.histogram: not a histogram" in _refused(capsys, one, two, cut)
    merged = tmp_path / "merged.json"
    assert main(["merge", str(one), str(two), str(three), "--out", str(merged)]) == 0
    capsys.readouterr()
    assert f"{merged}: a merged summary already (of 3 shards)" in _refused(capsys, merged)


def test_the_last_line_of_run_json_is_a_summary_that_merges(
    mosquitto: RunningMosquitto, tmp_path: Path
) -> None:
    profile = tmp_path / "pair.toml"
    text = PROFILE.format(count=2).replace("port = 1", f"port = {mosquitto.port}")
    profile.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "iotsim_tui", "run", str(profile), "--json", "--duration", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.splitlines()[-1]
    assert json.loads(last)["shard"] == {"index": 1, "count": 1}
    (tmp_path / "whole.json").write_text(last)
    merged = _merge(tmp_path / "whole.json", "--json")
    assert merged.returncode == 0, merged.stderr
    assert json.loads(merged.stdout)["devices"] == 2
