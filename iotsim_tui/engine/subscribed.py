"""A device's subscription: its filter, granted QoS, and the messages seen on it."""

from __future__ import annotations

from iotsim_tui.engine.views import SubscriptionView
from iotsim_tui.protocol.topics import SHARE_PREFIX, SharedFilter


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
        # A shared subscription delivers topics that match the filter after the group.
        self.match_filter = (
            SharedFilter.parse(topic_filter).topic_filter
            if topic_filter.startswith(SHARE_PREFIX)
            else topic_filter
        )

    def view(self) -> SubscriptionView:
        """A snapshot (the QoS asked for until the broker grants one)."""
        qos = self.granted if self.granted is not None else self.qos
        return SubscriptionView(self.topic_filter, qos, self.since, self.count, self.last_payload)
