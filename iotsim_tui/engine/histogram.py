"""A mergeable histogram of durations: log-sized buckets, percentiles within a few percent.

Each bucket covers values from `GROWTH**i` to `GROWTH**(i + 1)` microseconds, so a percentile
is known to within half a bucket (about 2.5%) whatever the scale, from microseconds to hours,
in a few hundred counters at most. Two histograms add up bucket by bucket: the summaries of
several processes (`--workers`) or hosts (`--shard`) merge into the one a single run would
have given, and the JSON summary carries the buckets so that files can be merged later.

```python
connect = Histogram()
connect.add(0.0123)                         # seconds
connect.percentile(95)                      # seconds, or None when empty
both = connect + Histogram.from_json(other_run["connect_time"])
```
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

GROWTH = 1.05
"""Each bucket is 5% wider than the one below it."""
UNIT = 1e-6
"""Values are bucketed in microseconds; anything below one microsecond counts as one."""
_LOG_GROWTH = math.log(GROWTH)


class Histogram:
    """Counts of durations (seconds) in logarithmic buckets; `+` merges two."""

    __slots__ = ("buckets", "count", "high", "low", "total")

    def __init__(self) -> None:
        self.buckets: dict[int, int] = {}
        """Bucket index -> how many values fell in it."""
        self.count = 0
        self.total = 0.0
        """The sum of the values, for the mean."""
        self.low = math.inf
        self.high = -math.inf

    def add(self, seconds: float, times: int = 1) -> None:
        """Count a duration (negative ones, from a clock step, count as zero)."""
        seconds = max(seconds, 0.0)
        index = _index(seconds)
        self.buckets[index] = self.buckets.get(index, 0) + times
        self.count += times
        self.total += seconds * times
        self.low = min(self.low, seconds)
        self.high = max(self.high, seconds)

    def percentile(self, p: float) -> float | None:
        """The duration below which `p` percent of the values are (None when empty).

        The value is the middle of its bucket, kept within the smallest and largest seen.
        """
        if not self.count:
            return None
        rank = max(1, math.ceil(self.count * p / 100))
        seen = 0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen >= rank:
                middle: float = UNIT * GROWTH ** (index + 0.5)
                return min(self.high, max(self.low, middle))
        return self.high

    @property
    def mean(self) -> float | None:
        """The mean duration (None when empty)."""
        return self.total / self.count if self.count else None

    def __add__(self, other: Histogram) -> Histogram:
        both = self.copy()
        both.merge(other)
        return both

    def merge(self, other: Histogram) -> None:
        """Add another histogram's counts to this one."""
        for index, count in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + count
        self.count += other.count
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)

    def copy(self) -> Histogram:
        """An independent copy (a summary keeps one while the run goes on counting)."""
        twin = Histogram()
        twin.buckets = dict(self.buckets)
        twin.count, twin.total, twin.low, twin.high = self.count, self.total, self.low, self.high
        return twin

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Histogram):
            return NotImplemented
        return self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Histogram(count={self.count}, p50={self.percentile(50)})"

    def to_json(self) -> dict[str, Any]:
        """The histogram as JSON-ready data, enough to merge it again (`from_json`)."""
        return {
            "unit": "microseconds",
            "growth": GROWTH,
            "count": self.count,
            "sum_seconds": self.total,
            "min_seconds": self.low if self.count else None,
            "max_seconds": self.high if self.count else None,
            "buckets": {str(i): self.buckets[i] for i in sorted(self.buckets)},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Histogram:
        """A histogram from `to_json`'s data; `ValueError` when it is not one of ours."""
        if data.get("growth") != GROWTH or data.get("unit") != "microseconds":
            raise ValueError(
                f"a histogram of growth {data.get('growth')!r} in {data.get('unit')!r} "
                f"cannot be merged with ours ({GROWTH} in microseconds)"
            )
        made = cls()
        try:
            made.buckets = {int(i): int(n) for i, n in data["buckets"].items()}
            made.count = int(data["count"])
            made.total = float(data["sum_seconds"])
            if made.count:
                made.low, made.high = float(data["min_seconds"]), float(data["max_seconds"])
        except (KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"not a histogram: {error}") from None
        if sum(made.buckets.values()) != made.count:
            raise ValueError("a histogram's buckets do not add up to its count")
        return made

    @classmethod
    def of(cls, values: Iterable[float]) -> Histogram:
        """A histogram of these durations."""
        made = cls()
        for value in values:
            made.add(value)
        return made


def _index(seconds: float) -> int:
    micros = seconds / UNIT
    if micros <= 1.0:
        return 0
    return int(math.log(micros) / _LOG_GROWTH)
