"""A device's subscriptions: each filter, its granted QoS, and the messages seen on it."""

from __future__ import annotations

from iotsim_tui.engine.views import SubscriptionView
from iotsim_tui.protocol.topics import matched_filter, topic_matches


class Subscribed:
    """A filter a device subscribes to, and what has arrived on it."""

    __slots__ = ("count", "granted", "last_payload", "match_filter", "qos", "since", "topic_filter")

    def __init__(self, topic_filter: str, qos: int) -> None:
        self.topic_filter = topic_filter
        self.qos = qos
        self.granted: int | None = None
        self.since: float | None = None
        self.count = 0
        self.last_payload: bytes | None = None
        self.match_filter = matched_filter(topic_filter)

    def view(self) -> SubscriptionView:
        """A snapshot (the QoS asked for until the broker grants one)."""
        qos = self.granted if self.granted is not None else self.qos
        return SubscriptionView(self.topic_filter, qos, self.since, self.count, self.last_payload)


class Subscriptions:
    """A device's subscriptions by topic filter: what to ask the broker, and what matched."""

    __slots__ = ("_by_filter",)

    def __init__(self) -> None:
        self._by_filter: dict[str, Subscribed] = {}

    def want(self, topic_filter: str, qos: int) -> Subscribed:
        """Add a subscription (or change its QoS); returns it."""
        sub = self._by_filter.get(topic_filter)
        if sub is None:
            sub = self._by_filter[topic_filter] = Subscribed(topic_filter, qos)
        sub.qos = qos
        return sub

    def forget(self, topic_filter: str) -> bool:
        """Remove a subscription; False when there was none."""
        return self._by_filter.pop(topic_filter, None) is not None

    def to_subscribe(self, session_present: bool) -> list[Subscribed]:
        """What to subscribe to on a new connection: all of them for a new session, only
        those added meanwhile when the broker resumed the session."""
        subs = list(self._by_filter.values())
        if not session_present:  # a new session: the broker knows none of them
            for sub in subs:
                sub.since = None
        return [sub for sub in subs if sub.since is None]

    def received(self, topic: str, preview: bytes) -> bool:
        """Count a message on `topic` for each subscription it matches; False for none."""
        matched = False
        for sub in self._by_filter.values():
            if topic_matches(sub.match_filter, topic):
                matched = True
                sub.count += 1
                sub.last_payload = preview
        return matched

    def views(self) -> tuple[SubscriptionView, ...]:
        """Snapshots of every subscription."""
        return tuple(sub.view() for sub in self._by_filter.values())
