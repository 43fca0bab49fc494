"""Read-only snapshots of the engine's state: devices, their ledgers, and network summaries.

Everything here is a frozen value, built on demand, so the app and the headless runner can
keep it, compare it, or send it to another process. `Summary.merge` combines the summaries of
several processes or hosts (`--workers`, `--shard`) into one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from iotsim_tui.engine.events import DeviceStatus


@dataclass(frozen=True, slots=True)
class Ledger:
    """What happened to the messages a device was asked to publish.

    `accepted == acknowledged + queued + dropped` always holds: acknowledged means the broker
    confirmed it (QoS 1/2) or it was handed to the socket (QoS 0); queued means it waits in
    the outbox or for its acknowledgement; dropped ones are counted by reason.
    """

    accepted: int = 0
    acknowledged: int = 0
    queued: int = 0
    dropped: int = 0
    drop_reasons: Mapping[str, int] = field(default_factory=dict)

    @property
    def balanced(self) -> bool:
        """True when every accepted message is accounted for."""
        return self.accepted == self.acknowledged + self.queued + self.dropped

    def __add__(self, other: Ledger) -> Ledger:
        reasons = dict(self.drop_reasons)
        for reason, count in other.drop_reasons.items():
            reasons[reason] = reasons.get(reason, 0) + count
        return Ledger(
            accepted=self.accepted + other.accepted,
            acknowledged=self.acknowledged + other.acknowledged,
            queued=self.queued + other.queued,
            dropped=self.dropped + other.dropped,
            drop_reasons=reasons,
        )


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    """One topic filter a device is subscribed to, and what arrived on it."""

    topic_filter: str
    qos: int
    """The QoS the broker granted (the one asked for until the broker answers)."""
    since: float | None
    """time.time() of the broker's SUBACK; None while not subscribed on the broker."""
    count: int
    """Messages received that match this filter."""
    last_payload: bytes | None
    """The last one, cut to PAYLOAD_PREVIEW_BYTES."""


@dataclass(frozen=True, slots=True)
class DeviceView:
    """A snapshot of one device."""

    id: str
    name: str
    client_id: str
    status: DeviceStatus
    status_detail: str
    subscriptions: tuple[SubscriptionView, ...]
    ledger: Ledger
    telemetry_running: bool
    messages_in: int
    messages_out: int
    state: Mapping[str, object]
    """The device's state values (setpoint, power, ...) as commands left them."""
    last_error: str | None
    tls_version: str | None = None
    """The TLS version negotiated on the current connection ("TLSv1.3"); None when plain or
    not connected."""


@dataclass(frozen=True, slots=True)
class Summary:
    """Counts for a whole network (or a shard of it), mergeable across processes and hosts."""

    devices: int = 0
    connected: int = 0
    connecting: int = 0
    reconnecting: int = 0
    stopped: int = 0
    errors: int = 0
    """Devices in the error status now."""
    failed: int = 0
    """Devices that reported at least one error since they were started."""
    messages_in: int = 0
    messages_out: int = 0
    rate_in: float = 0.0
    """Messages received per second, over the last few seconds."""
    rate_out: float = 0.0
    """Messages published per second, over the last few seconds."""
    ledger: Ledger = field(default_factory=Ledger)
    events_dropped: int = 0
    """Events left out of the stream because its consumer fell behind."""
    error_samples: tuple[str, ...] = ()
    """A few distinct error messages ("TS1: not authorized"), for the final report."""

    @staticmethod
    def merge(summaries: Iterable[Summary]) -> Summary:
        """One summary for several shards: counts and rates add up."""
        total = Summary()
        samples: list[str] = []
        for part in summaries:
            for sample in part.error_samples:
                if sample not in samples and len(samples) < MAX_ERROR_SAMPLES:
                    samples.append(sample)
            total = Summary(
                devices=total.devices + part.devices,
                connected=total.connected + part.connected,
                connecting=total.connecting + part.connecting,
                reconnecting=total.reconnecting + part.reconnecting,
                stopped=total.stopped + part.stopped,
                errors=total.errors + part.errors,
                failed=total.failed + part.failed,
                messages_in=total.messages_in + part.messages_in,
                messages_out=total.messages_out + part.messages_out,
                rate_in=total.rate_in + part.rate_in,
                rate_out=total.rate_out + part.rate_out,
                ledger=total.ledger + part.ledger,
                events_dropped=total.events_dropped + part.events_dropped,
            )
        return replace(total, error_samples=tuple(samples))

    @property
    def ok(self) -> bool:
        """True when no device reported an error (dropped messages show in the ledger)."""
        return self.failed == 0 and self.errors == 0


MAX_ERROR_SAMPLES = 5
