"""Limits that keep one client, or one address, from taking the broker from everyone else.

- `LoginGuard`: password checks (scrypt, ~50 ms and 16 MiB each) run in a small pool of their
  own. Each address has at most one check running and a few waiting; a failure makes that
  address's next check wait, twice as long after each failure in a row. Past the waiting
  limits a login is refused at once as "server busy", before any hashing. So a flood of
  wrong passwords from one address costs one hash at a time, and a login from elsewhere
  finds a free worker.
- `PublishRate`: a token bucket per client; a client over `max_publish_rate` is read later
  (its socket is paused), so nothing is lost and TCP slows the sender down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

WORKERS = 2
"""Password checks running at once, broker-wide."""
WAITING_PER_ADDRESS = 4
"""Logins from one address waiting behind its running check; more are refused at once."""
WAITING_TOTAL = 64
"""Logins waiting broker-wide; more are refused at once."""
FORGET_AFTER = 600.0
"""Seconds without a failure after which an address's failures are forgotten."""


class LoginRefused(Exception):
    """The check was not run: too many logins wait (the client is told the server is busy)."""


@dataclass
class _Address:
    failures: int = 0
    last_failure: float = 0.0
    waiting: int = 0
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)


class LoginGuard:
    """Runs password checks with bounded work and a growing delay after failures."""

    def __init__(self, delay: float, delay_max: float) -> None:
        self.delay = delay
        self.delay_max = delay_max
        self._pool: ThreadPoolExecutor | None = None
        self._addresses: dict[str, _Address] = {}
        self._waiting = 0
        self.refused_busy = 0
        """Logins refused without a check because too many were waiting."""
        self.checks = 0
        """Password checks run."""
        self.last_wait: dict[str, float] = {}
        """Seconds the latest check from each address waited before it ran (back-off included)."""

    def backoff(self, host: str) -> float:
        """Seconds the next login from `host` waits before its check."""
        record = self._addresses.get(host)
        if record is None or not record.failures:
            return 0.0
        if time.monotonic() - record.last_failure > FORGET_AFTER:
            record.failures = 0
            return 0.0
        return min(self.delay * 2.0 ** (record.failures - 1), self.delay_max)

    async def check(self, host: str, verify: Callable[[], bool]) -> bool:
        """Run `verify` (a password check) for a login from `host`, within the limits.

        Raises:
            LoginRefused: Too many logins from `host`, or in all, are waiting.
        """
        record = self._addresses.get(host)
        if record is None:
            record = self._addresses[host] = _Address()
            if len(self._addresses) > 10_000:
                self._forget_quiet()
        if record.waiting >= WAITING_PER_ADDRESS or self._waiting >= WAITING_TOTAL:
            self.refused_busy += 1
            raise LoginRefused("too many logins waiting")
        record.waiting += 1
        self._waiting += 1
        arrived = time.monotonic()
        try:
            async with record.turn:
                wait = self.backoff(host) - (time.monotonic() - record.last_failure)
                if wait > 0:
                    await asyncio.sleep(wait)
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="password")
                self.checks += 1
                self.last_wait[host] = time.monotonic() - arrived
                good = await asyncio.get_running_loop().run_in_executor(self._pool, verify)
                if good:
                    record.failures = 0
                else:
                    record.failures += 1
                    record.last_failure = time.monotonic()
                return good
        finally:
            record.waiting -= 1
            self._waiting -= 1

    def close(self) -> None:
        """Stop the pool (checks already running finish in their threads)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def _forget_quiet(self) -> None:
        now = time.monotonic()
        for host in [
            host
            for host, record in self._addresses.items()
            if not record.waiting and now - record.last_failure > FORGET_AFTER
        ]:
            del self._addresses[host]
            self.last_wait.pop(host, None)


class PublishRate:
    """A token bucket: `rate` PUBLISH packets a second on average, bursts up to one second's."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self._tokens = self.capacity
        self._updated = time.monotonic()

    def take(self) -> float:
        """Count one PUBLISH; return 0 when within the rate, else the seconds to wait first."""
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        self._tokens -= 1
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self.rate
