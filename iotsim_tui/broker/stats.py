"""Counters, the `$SYS/broker/...` statistics and the broker console feed `$SYS/iotsim/clients`.

The console feed is one retained JSON document (schema in docs/broker.md). It is rebuilt when
clients connect, disconnect or change subscriptions, but at most once per
`clients_feed_interval`, so a thousand connects cost a handful of publishes, not a thousand.
It is only built and kept while someone subscribes to it: with nobody reading it the broker
neither builds it (a line per client, rebuilt as clients come and go) nor keeps it; a first
subscriber gets it with the next publish, within `clients_feed_interval` (a SUBSCRIBE is a
change the feed shows), and later ones get it retained.
The client and subscription counts under `$SYS/broker/` follow the same changes; the other
statistics are refreshed every `sys_interval`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iotsim_tui.broker import sys_tree
from iotsim_tui.broker.wire import Message

if TYPE_CHECKING:
    from iotsim_tui.broker.server import Broker

CLIENTS_TOPIC = "$SYS/iotsim/clients"


@dataclass(slots=True)
class BrokerStats:
    """Running totals since the broker started."""

    started: float = 0.0
    connected: int = 0
    messages_received: int = 0
    messages_sent: int = 0
    dropped: int = 0
    """Messages not delivered: full queues, slow readers, over a client's maximum packet size."""
    bytes_received: int = 0
    bytes_sent: int = 0
    denied: int = 0
    """PUBLISH packets the ACL refused."""
    maximum_connected: int = 0


class SysFeed:
    """Publishes the statistics and the client list as retained `$SYS` messages."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self._clients_timer: asyncio.TimerHandle | None = None
        self._stats_timer: asyncio.TimerHandle | None = None
        self._last_clients = 0.0
        self.clients_publishes = 0
        self._published: dict[str, str] = {}
        self._document_kept = False
        """True while the console feed is a retained message."""

    def start(self) -> None:
        """Publish both feeds now, then keep them up to date."""
        self._publish_stats()
        self._publish_clients()

    def stop(self) -> None:
        """Stop publishing."""
        for timer in (self._clients_timer, self._stats_timer):
            if timer is not None:
                timer.cancel()
        self._clients_timer = self._stats_timer = None

    def changed(self) -> None:
        """The client list changed: publish it soon, coalescing changes that come close."""
        if self._clients_timer is not None or self.broker.stopping or not self.broker.listeners:
            return
        loop = asyncio.get_running_loop()
        wait = self._last_clients + self.broker.config.clients_feed_interval - loop.time()
        self._clients_timer = loop.call_later(max(wait, 0.0), self._publish_clients)

    def _publish_clients(self) -> None:
        self._clients_timer = None
        self._last_clients = asyncio.get_running_loop().time()
        self.clients_publishes += 1
        broker = self.broker
        if broker.subscriptions.wanted(CLIENTS_TOPIC):
            self._publish_document()
        elif self._document_kept:  # nobody reads it any more: let it go
            self._document_kept = False
            broker.publish(Message(CLIENTS_TOPIC, b"", 0, True))
        self._publish_sys(self._client_counts())

    def _publish_document(self) -> None:
        self._document_kept = True
        self.broker.publish(Message(CLIENTS_TOPIC, self._document(), 0, True))

    def _document(self) -> bytes:
        return json.dumps(self.clients_document(), separators=(",", ":")).encode()

    def clients_document(self) -> dict[str, Any]:
        """The broker console's view: connected clients sorted by id, and totals."""
        broker = self.broker
        connections = sorted(
            (c for c in broker.connections if c.session is not None), key=lambda c: c.client_id
        )
        limit = broker.config.clients_feed_limit
        clients = []
        for connection in connections[:limit]:
            session = connection.session
            assert session is not None
            clients.append(
                {
                    "id": connection.client_id,
                    "address": connection.address,
                    "protocol": "5" if connection.version == 5 else "3.1.1",
                    "listener": {"port": connection.listener.port, "tls": connection.tls},
                    "username": connection.username,
                    "connected_since": round(connection.connected_since, 3),
                    "subscriptions": [
                        {"filter": sub.topic_filter, "qos": sub.qos}
                        for sub in session.subscriptions.values()
                    ],
                }
            )
        stats = broker.stats
        document: dict[str, Any] = {
            "clients": clients,
            "totals": {
                "connected": len(connections),
                "subscriptions": broker.subscriptions.count,
                "messages_received": stats.messages_received,
                "messages_sent": stats.messages_sent,
            },
            "updated": round(time.time(), 3),
        }
        if len(connections) > limit:
            document["truncated"] = True
        return document

    def _client_counts(self) -> dict[str, str]:
        return sys_tree.client_counts(self.broker)

    def _publish_stats(self) -> None:
        broker = self.broker
        self._publish_sys(sys_tree.statistics(broker), always=True)
        loop = asyncio.get_running_loop()
        self._stats_timer = loop.call_later(broker.config.sys_interval, self._publish_stats)

    def _publish_sys(self, values: dict[str, str], *, always: bool = False) -> None:
        """Publish `$SYS/broker/<name>` values, retained; unless `always`, only changed ones."""
        for name, value in values.items():
            if always or self._published.get(name) != value:
                self._published[name] = value
                self.broker.publish(Message(f"$SYS/broker/{name}", value.encode(), 0, True))
