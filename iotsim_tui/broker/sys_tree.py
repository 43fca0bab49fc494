"""The `$SYS/broker/...` statistics under the names mosquitto publishes them.

Dashboards and MQTT Explorer written for mosquitto read these topics as they are. Where
mosquitto counts every packet (`messages/received`), this broker counts PUBLISH packets, the
same as its `publish/messages/...` topics.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from iotsim_tui import __version__

if TYPE_CHECKING:
    from iotsim_tui.broker.server import Broker


def client_counts(broker: Broker) -> dict[str, str]:
    """The counts that change as clients come and go: published as soon as they change."""
    stats = broker.stats
    connected = stats.connected
    stats.maximum_connected = max(stats.maximum_connected, connected)
    total = len(broker.sessions)
    return {
        "clients/connected": str(connected),
        "clients/active": str(connected),
        "clients/disconnected": str(max(total - connected, 0)),
        "clients/inactive": str(max(total - connected, 0)),
        "clients/total": str(total),
        "clients/maximum": str(stats.maximum_connected),
        "subscriptions/count": str(broker.subscriptions.count),
    }


def statistics(broker: Broker) -> dict[str, str]:
    """Every `$SYS/broker/<name>` value, by name."""
    stats = broker.stats
    retained = broker.retained
    queued = sum(session.queued for session in broker.sessions.values())
    return {
        "version": f"iotsim-tui {__version__}",
        "uptime": f"{int(time.time() - stats.started)} seconds",
        **client_counts(broker),
        "messages/received": str(stats.messages_received),
        "messages/sent": str(stats.messages_sent),
        "messages/dropped": str(stats.dropped),
        "publish/messages/received": str(stats.messages_received),
        "publish/messages/sent": str(stats.messages_sent),
        "publish/messages/dropped": str(stats.dropped),
        "publish/messages/denied": str(stats.denied),
        "bytes/received": str(stats.bytes_received),
        "bytes/sent": str(stats.bytes_sent),
        "store/messages/count": str(len(retained) + queued),
        "retained messages/count": str(len(retained)),
        "retained messages/dropped": str(retained.refused),
        "logins/refused busy": str(broker.logins.refused_busy),
    }
