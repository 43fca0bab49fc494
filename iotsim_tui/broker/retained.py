"""Retained messages: one per topic, set, replaced, or cleared by an empty payload.

They live in a topic tree (`topic_tree.py`), as in mosquitto, so the retained messages for a
new subscription cost what the filter reaches, not the number of retained messages. The limit
(`max_retained`) counts clients' messages only: the broker's own `$SYS` topics are never
refused and never take a client's place.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

from iotsim_tui.broker.topic_tree import TopicTree
from iotsim_tui.broker.wire import Message

log = logging.getLogger("iotsim_tui.broker")


class RetainedStore:
    """The last retained message of every topic, bounded in count."""

    def __init__(self, limit: int) -> None:
        self._tree: TopicTree[Message] = TopicTree()
        self.limit = limit
        self.counted = 0
        """Retained messages that count towards `limit` (all but the broker's `$SYS` ones)."""
        self.refused = 0
        """Retained messages not stored because the store was full."""

    def __len__(self) -> int:
        return len(self._tree)

    def full_for(self, topic: str) -> bool:
        """True when a retained message to `topic` would be refused for want of room."""
        return (
            self.counted >= self.limit
            and not topic.startswith("$SYS")
            and self._tree.get(topic) is None
        )

    def store(self, message: Message) -> bool:
        """Keep `message` as its topic's retained message; an empty payload clears the topic.

        Returns False (counted in `refused`, logged) when the store is full.
        """
        if not message.payload:
            self.delete(message.topic)
            return True
        if self.full_for(message.topic):
            self.refused += 1
            if self.refused == 1 or self.refused % 1000 == 0:
                log.warning(
                    "retained message to %r not kept: the broker holds max_retained = %d "
                    "(%d refused so far)",
                    message.topic,
                    self.limit,
                    self.refused,
                )
            return False
        self.set(message)
        return True

    def set(self, message: Message) -> None:
        """Store `message` as its topic's retained message, whatever the limit."""
        if self._tree.set(message.topic, message) and not message.topic.startswith("$SYS"):
            self.counted += 1

    def delete(self, topic: str) -> Message | None:
        """Clear `topic`'s retained message; return it, or None when there was none."""
        old = self._tree.delete(topic)
        if old is not None and not topic.startswith("$SYS"):
            self.counted -= 1
        return old

    def iterate(self) -> Iterator[Message]:
        """Every retained message, expired ones included ($SYS ones too)."""
        for _, message in self._tree.items():
            yield message

    def match(self, topic_filter: str) -> Iterator[Message]:
        """The live retained messages matching `topic_filter` (not a shared filter), lazily.

        Expired messages met on the way are removed. Safe to pause between items while the
        store changes: a message replaced meanwhile may be missed or seen in its new version.
        """
        now = time.monotonic()
        for topic, message in self._tree.walk(topic_filter):
            if message.expired(now):
                self.delete(topic)
            else:
                yield message

    def match_steps(self, topic_filter: str) -> Iterator[Message | None]:
        """`match`, also yielding None now and then while it searches (see `TopicTree.steps`)."""
        now = time.monotonic()
        for found in self._tree.steps(topic_filter):
            if found is None:
                yield None
                continue
            topic, message = found
            if message.expired(now):
                self.delete(topic)
            else:
                yield message

    def matching(self, topic_filter: str) -> list[Message]:
        """The live retained messages whose topics match `topic_filter`, as a list."""
        return list(self.match(topic_filter))
