"""Retained messages: one per topic, set, replaced, or cleared by an empty payload."""

from __future__ import annotations

import time

from iotsim_tui.broker.wire import Message
from iotsim_tui.protocol.topics import has_wildcards, topic_matches


class RetainedStore:
    """The last retained message of every topic, bounded in count."""

    def __init__(self, limit: int) -> None:
        self._messages: dict[str, Message] = {}
        self.limit = limit
        self.refused = 0
        """Retained messages not stored because the store was full."""

    def __len__(self) -> int:
        return len(self._messages)

    def store(self, message: Message) -> None:
        """Keep `message` as its topic's retained message; an empty payload clears the topic."""
        if not message.payload:
            self._messages.pop(message.topic, None)
            return
        if message.topic not in self._messages and len(self._messages) >= self.limit:
            self.refused += 1
            return
        self._messages[message.topic] = message

    def matching(self, topic_filter: str) -> list[Message]:
        """The live retained messages whose topics match `topic_filter` (not a shared filter)."""
        now = time.monotonic()
        if not has_wildcards(topic_filter):
            message = self._messages.get(topic_filter)
            found = [message] if message is not None else []
        else:
            found = [
                message
                for topic, message in self._messages.items()
                if topic_matches(topic_filter, topic)
            ]
        live = [message for message in found if not message.expired(now)]
        if len(live) != len(found):
            for message in found:
                if message.expired(now):
                    self._messages.pop(message.topic, None)
        return live
