"""The subscription tree: which clients want a topic, with shared subscriptions (MQTT 5.0 s4.8).

Filters are stored level by level, so matching a topic costs the depth of the topic, not the
number of subscriptions. A shared subscription (`$share/group/filter`) is stored at its filter's
node under its group name; each matching message goes to one member of each group, in turn.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from iotsim_tui.protocol.topics import SHARE_PREFIX, SharedFilter


@dataclass(slots=True)
class Subscription:
    """One client's subscription to one filter, with its MQTT 5 options."""

    client_id: str
    topic_filter: str
    """The filter as the client sent it, `$share/...` included."""
    qos: int
    no_local: bool = False
    retain_as_published: bool = False
    retain_handling: int = 0
    identifier: int | None = None

    @property
    def share_group(self) -> str | None:
        """The share group for a shared subscription, else None."""
        if self.topic_filter.startswith(SHARE_PREFIX):
            return SharedFilter.parse(self.topic_filter).group
        return None


_CACHE_LIMIT = 16_384
"""Topics whose matches are kept. Past it, new topics are matched afresh (not kept) until
`_CACHE_LIMIT` * 4 of them have been, then the cache starts over: ten thousand devices each on
its own topic all stay in it, and a flow of ever new topics renews it now and then rather
than emptying it on every few thousand messages (which kept nothing for such a fleet)."""


class _Node:
    __slots__ = ("children", "shared", "subscribers")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.subscribers: dict[str, Subscription] = {}
        self.shared: dict[str, _SharedGroup] = {}

    def empty(self) -> bool:
        return not (self.children or self.subscribers or self.shared)


class _SharedGroup:
    __slots__ = ("members", "turn")

    def __init__(self) -> None:
        self.members: dict[str, Subscription] = {}
        self.turn = 0

    def pick(self) -> Subscription:
        members = list(self.members.values())
        self.turn = (self.turn + 1) % len(members)
        return members[self.turn]


def _split(topic_filter: str) -> tuple[str | None, list[str]]:
    if topic_filter.startswith(SHARE_PREFIX):
        shared = SharedFilter.parse(topic_filter)
        return shared.group, shared.topic_filter.split("/")
    return None, topic_filter.split("/")


class SubscriptionTree:
    """All subscriptions of all sessions, indexed by filter level."""

    def __init__(self) -> None:
        self._root = _Node()
        self.count = 0
        # Matches by topic, while no subscription changes: most traffic repeats few topics.
        # Results that went through a share group are not kept (each message picks anew).
        self._cache: dict[str, list[Subscription]] = {}
        self._uncached = 0
        """Topics matched but not kept since the cache filled up."""

    def add(self, subscription: Subscription) -> bool:
        """Store `subscription`, replacing the client's one to the same filter; True when new."""
        group, levels = _split(subscription.topic_filter)
        node = self._root
        for level in levels:
            child = node.children.get(level)
            if child is None:
                child = node.children[level] = _Node()
            node = child
        if group is None:
            table = node.subscribers
        else:
            table = node.shared.setdefault(group, _SharedGroup()).members
        new = subscription.client_id not in table
        table[subscription.client_id] = subscription
        self._clear_cache()
        self.count += new
        return new

    def remove(self, client_id: str, topic_filter: str) -> bool:
        """Drop the client's subscription to `topic_filter`; True when it existed."""
        group, levels = _split(topic_filter)
        path = [self._root]
        for level in levels:
            child = path[-1].children.get(level)
            if child is None:
                return False
            path.append(child)
        node = path[-1]
        if group is None:
            removed = node.subscribers.pop(client_id, None) is not None
        else:
            shared = node.shared.get(group)
            removed = shared is not None and shared.members.pop(client_id, None) is not None
            if shared is not None and not shared.members:
                del node.shared[group]
        if not removed:
            return False
        self._clear_cache()
        self.count -= 1
        for parent, level in zip(reversed(path[:-1]), reversed(levels), strict=True):
            if not parent.children[level].empty():
                break
            del parent.children[level]
        return True

    def _clear_cache(self) -> None:
        self._cache.clear()
        self._uncached = 0

    def match(self, topic: str) -> list[Subscription]:
        """Every subscription that gets a message published to `topic`.

        Ordinary subscriptions all match; of each matching share group one member is picked,
        in turn. A client may appear more than once (overlapping filters).
        """
        cached = self._cache.get(topic)
        if cached is not None:
            return cached
        found: list[Subscription] = []
        shared = False
        for node in self._nodes(topic):
            if node.subscribers:
                found.extend(node.subscribers.values())
            if node.shared:
                shared = True
                found.extend(group.pick() for group in node.shared.values())
        if not shared:
            if len(self._cache) < _CACHE_LIMIT:
                self._cache[topic] = found
            else:
                self._uncached += 1
                if self._uncached > _CACHE_LIMIT * 4:
                    self._cache.clear()
                    self._uncached = 0
        return found

    def wanted(self, topic: str) -> bool:
        """True when some subscription, shared or not, matches `topic` (no member is picked)."""
        cached = self._cache.get(topic)
        if cached:
            return True
        return any(node.subscribers or node.shared for node in self._nodes(topic))

    def _nodes(self, topic: str) -> Iterator[_Node]:
        """The nodes whose subscriptions match `topic`."""
        levels = topic.split("/")
        depth = len(levels)
        dollar = topic.startswith("$")
        # Iterative: a topic may have 65,535 levels, far past Python's recursion limit.
        stack = [(self._root, 0)]
        while stack:
            node, index = stack.pop()
            children = node.children
            wildcards_here = not (dollar and index == 0)
            # `#` also matches the parent level ("a/#" matches "a").
            hash_node = children.get("#")
            if hash_node is not None and wildcards_here:
                yield hash_node
            if index == depth:
                yield node
                continue
            exact = children.get(levels[index])
            if exact is not None:
                stack.append((exact, index + 1))
            plus = children.get("+")
            if plus is not None and wildcards_here:
                stack.append((plus, index + 1))

    def remove_all(self, client_id: str, filters: list[str]) -> None:
        """Remove all of `filters` for `client_id` (a session's subscriptions, when it ends)."""
        for topic_filter in filters:
            self.remove(client_id, topic_filter)
