"""The mergeable histogram behind the summary's percentiles."""

from __future__ import annotations

import json
import math
import random

import pytest

from iotsim_tui.engine.histogram import GROWTH, Histogram


def exact(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * p / 100) - 1)]


def test_percentiles_are_within_half_a_bucket_of_the_exact_ones() -> None:
    rng = random.Random(5)
    values = [rng.lognormvariate(-6, 1.5) for _ in range(20_000)]  # ~2.5 ms, long tail
    histogram = Histogram.of(values)
    for p in (50, 95, 99, 99.9):
        got = histogram.percentile(p)
        assert got is not None
        assert abs(got / exact(values, p) - 1) <= GROWTH - 1, p
    assert histogram.percentile(100) == max(values)
    assert histogram.mean == pytest.approx(sum(values) / len(values))
    assert len(histogram.buckets) < 300


def test_shards_merge_into_what_one_run_would_have_counted() -> None:
    rng = random.Random(9)
    values = [rng.expovariate(200) for _ in range(5_000)]
    parts = [Histogram.of(values[i::3]) for i in range(3)]
    merged = parts[0] + parts[1] + parts[2]
    whole = Histogram.of(values)
    assert (merged.buckets, merged.count, merged.low, merged.high) == (
        whole.buckets,
        whole.count,
        whole.low,
        whole.high,
    )
    assert merged.total == pytest.approx(whole.total)
    assert parts[0].count == len(values[0::3])  # `+` left its operands alone


def test_the_json_form_round_trips_and_refuses_what_is_not_ours() -> None:
    histogram = Histogram.of([0.0, 1e-7, 0.001, 0.0011, 2.5])
    data = json.loads(json.dumps(histogram.to_json()))
    assert Histogram.from_json(data) == histogram
    assert Histogram.from_json(Histogram().to_json()).percentile(50) is None
    with pytest.raises(ValueError, match=r"growth 1\.1"):
        Histogram.from_json({**data, "growth": 1.1})
    with pytest.raises(ValueError, match="do not add up"):
        Histogram.from_json({**data, "count": 99})
