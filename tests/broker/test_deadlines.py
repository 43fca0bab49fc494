"""One timer for every connection's deadline: each is checked once it passes, in order."""

from __future__ import annotations

import asyncio

from iotsim_tui.broker.keepalive import TICK, DeadlineWatch


class Silent:
    """A connection that gives itself `lives` more periods of `period` seconds when checked."""

    def __init__(self, name: str, lives: int, period: float, log: list[tuple[str, float]]):
        self.name = name
        self.lives = lives
        self.period = period
        self.deadline = 0.0
        self.log = log
        self.done = asyncio.Event()

    def watched(self, now: float) -> bool:
        assert now >= self.deadline, "checked before its deadline"
        self.log.append((self.name, now - self.deadline))
        if self.lives:
            self.lives -= 1
            self.deadline = now + self.period
            return True
        self.done.set()
        return False


async def test_each_connection_is_checked_after_its_deadline_and_filed_again() -> None:
    loop = asyncio.get_running_loop()
    watch = DeadlineWatch()
    log: list[tuple[str, float]] = []
    later = Silent("later", 0, 0.0, log)
    again = Silent("again", 2, 0.3, log)
    gone = Silent("gone", 0, 0.0, log)
    now = loop.time()
    watch.watch(later, now + 0.6)
    watch.watch(again, now + 0.1)
    watch.watch(gone, now + 0.2)
    watch.forget(gone)  # closed before its deadline: never checked
    async with asyncio.timeout(10):
        await later.done.wait()
        await again.done.wait()
    names = [name for name, _ in log]
    assert names.count("again") == 3
    assert "gone" not in names
    assert names.index("later") > names.index("again")
    # Late by at most a slot (a loaded machine may add to that: only a bound on the order).
    assert all(late < TICK + 1.0 for _, late in log)
    assert len(watch) == 0
    watch.stop()


async def test_a_new_deadline_replaces_the_one_filed() -> None:
    loop = asyncio.get_running_loop()
    watch = DeadlineWatch()
    log: list[tuple[str, float]] = []
    moved = Silent("moved", 0, 0.0, log)
    watch.watch(moved, loop.time() + 0.1)
    watch.watch(moved, loop.time() + 0.5)  # as a PINGREQ moves the keepalive on
    async with asyncio.timeout(10):
        await moved.done.wait()
    assert [name for name, _ in log] == ["moved"]
    watch.stop()
