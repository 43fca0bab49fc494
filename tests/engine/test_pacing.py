"""The connection ramp, the telemetry scheduler and the event bus, without a broker."""

from __future__ import annotations

import asyncio
import itertools
import random
import time

import pytest

from iotsim_tui.engine import bus as bus_module
from iotsim_tui.engine import scheduler as scheduler_module
from iotsim_tui.engine.bus import EventBus
from iotsim_tui.engine.events import DeviceStatus, MessageKind, MessageOut, StatusChanged
from iotsim_tui.engine.ramp import ConnectionRamp
from iotsim_tui.engine.scheduler import TelemetryScheduler
from tests.engine.helpers import wait_until


async def test_the_ramp_paces_attempts_and_bounds_those_in_flight() -> None:
    ramp = ConnectionRamp(rate=100.0, in_flight=3)
    inside = peak = 0

    async def attempt() -> None:
        nonlocal inside, peak
        async with ramp.slot():
            inside += 1
            peak = max(peak, inside)
            await asyncio.sleep(0.06)  # longer than the pace: without a bound, 6 at once
            inside -= 1

    began = time.monotonic()
    await asyncio.gather(*(attempt() for _ in range(20)))
    assert time.monotonic() - began >= 19 / 100  # 20 attempts at 100 a second
    assert peak == 3
    with pytest.raises(ValueError, match="positive rate"):
        ConnectionRamp(rate=0, in_flight=1)


class FakeDevice:
    """A device as the scheduler sees it, counting its publishes."""

    def __init__(self, intervals: list[float], jitters: list[float] | None = None) -> None:
        self._intervals = intervals
        self._jitters = jitters or [0.02] * len(intervals)
        self.published: list[tuple[int, float]] = []

    def intervals(self) -> list[float]:
        return self._intervals

    def jitters(self) -> list[float]:
        return self._jitters

    def publish_telemetry(self, index: int) -> None:
        self.published.append((index, time.monotonic()))


def planned(scheduler: TelemetryScheduler, devices: list[FakeDevice]) -> list[float]:
    """When the scheduler means to publish the first telemetry of `devices` next (loop time).

    Read from its plan rather than from when publishes happened: a loaded machine that stalls
    the test for a moment makes every publish due by then happen at once, whatever the plan.
    """
    return sorted(
        due for due, device, index in scheduler.planned() if index == 0 and device in devices
    )


async def test_one_scheduler_fires_every_telemetry_at_its_interval_with_jitter() -> None:
    scheduler = TelemetryScheduler()
    devices = [FakeDevice([0.05, 0.1]) for _ in range(50)]
    began = time.monotonic()
    scheduled = [scheduler.add(device) for device in devices]
    firsts = planned(scheduler, devices)
    assert firsts[-1] - firsts[0] > 0.02  # spread over the first interval, not all at once

    def fast(device: FakeDevice) -> int:
        return sum(1 for index, _ in device.published if index == 0)

    await wait_until(lambda: all(fast(d) >= 6 for d in devices), "six publishes each")
    most = (time.monotonic() - began) / 0.05 + 2  # never more than the intervals allow
    assert all(fast(d) <= most for d in devices)
    assert all(len(d.published) - fast(d) <= fast(d) / 2 + 2 for d in devices)  # 0.1 s: half

    stopped, restarted = devices[0], devices[1]
    scheduled[0].cancel()
    scheduled[1].cancel()  # its old entries are forgotten; new ones replace them
    scheduler.add(restarted)
    before, again = len(stopped.published), fast(restarted)
    began = time.monotonic()
    await wait_until(lambda: fast(restarted) >= again + 6, "publishes after the restart")
    assert fast(restarted) - again <= (time.monotonic() - began) / 0.05 + 2  # not doubled
    assert len(stopped.published) == before
    scheduler.clear()
    assert len(scheduler) == 0


async def test_the_bus_batches_and_bounds_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bus_module, "CAPACITY", 10)
    bus = EventBus()
    for n in range(25):
        bus.emit(MessageOut("D", "t", 0, False, b"x", 1, MessageKind.TELEMETRY, float(n)))
    bus.emit(StatusChanged("D", DeviceStatus.STOPPED, "stopped", 99.0))
    bus.close()
    batches = [batch async for batch in bus.batches()]
    events = [event for batch in batches for event in batch]
    assert len(events) == 11  # ten messages, then the status change despite the bound
    assert isinstance(events[-1], StatusChanged)
    assert bus.dropped == 15

    quiet = EventBus(enabled=False)
    quiet.emit(StatusChanged("D", DeviceStatus.STOPPED, "stopped", 1.0))
    quiet.close()
    assert [batch async for batch in quiet.batches()] == []


async def test_a_device_that_connected_late_still_publishes_within_its_first_interval() -> None:
    # Started 1.5 s ago, interval 1 s: its first publish is due at once, not in up to 1 s.
    scheduler = TelemetryScheduler()
    loop = asyncio.get_running_loop()
    late = FakeDevice([1.0])
    before = loop.time()
    scheduler.add(late, before - 1.5)
    (due,) = planned(scheduler, [late])
    assert before <= due <= loop.time()  # due at once, not somewhere in the next second
    await wait_until(lambda: bool(late.published), "the late device's first publish")
    # Started just now: somewhere in its first interval, and never before the start.
    fresh = [FakeDevice([0.3]) for _ in range(40)]
    started = loop.time()
    for device in fresh:
        scheduler.add(device, started)
    firsts = planned(scheduler, fresh)
    assert started <= firsts[0]
    assert firsts[-1] <= started + 0.3
    assert firsts[-1] - firsts[0] > 0.05  # spread out, not all at once
    await wait_until(lambda: all(d.published for d in fresh), "every first publish", within=5.0)
    scheduler.clear()


async def test_each_telemetry_keeps_the_jitter_its_profile_sets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(random, "random", lambda: 1.0)  # every interval stretched the most
    scheduler = TelemetryScheduler()
    # Intervals long enough that a stalled machine does not make the scheduler skip ahead.
    exact, loose = FakeDevice([0.5], [0.0]), FakeDevice([0.5], [0.5])
    for device in (exact, loose):
        scheduler.add(device)
    first = {id(d): planned(scheduler, [d])[0] for d in (exact, loose)}
    await wait_until(lambda: exact.published and loose.published, "a publish each")
    assert planned(scheduler, [exact])[0] - first[id(exact)] == pytest.approx(0.5)
    assert planned(scheduler, [loose])[0] - first[id(loose)] == pytest.approx(0.75)
    scheduler.clear()


async def test_telemetry_goes_out_in_bursts_and_never_before_it_is_due() -> None:
    scheduler = TelemetryScheduler()
    loop = asyncio.get_running_loop()
    devices = [FakeDevice([1.0]) for _ in range(100)]
    for device in devices:
        scheduler.add(device)
    plan = {id(device): due for due, device, _ in scheduler.planned()}
    began = time.monotonic() - loop.time()  # FakeDevice notes time.monotonic()
    await wait_until(lambda: all(d.published for d in devices), "a publish each", within=5.0)
    scheduler.clear()
    # never early (a microsecond for the two clocks read one after the other)
    assert all(d.published[0][1] - began >= plan[id(d)] - 1e-6 for d in devices)
    # A second of telemetry from 100 devices: a wake-up per 50 ms at the most (a loaded
    # machine makes fewer, bigger bursts), not one per device.
    times = sorted(when for d in devices for _, when in d.published)
    bursts = 1 + sum(1 for a, b in itertools.pairwise(times) if b - a > 0.005)
    assert bursts <= 1.0 / scheduler_module.MAX_GAP + 2
