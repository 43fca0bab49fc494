"""The topic tree: every topic seen on a broker, with counts, rates and recent messages.

Built for floods: a message costs a few dictionary look-ups and one counter per level, a
topic keeps at most `messages_per_topic` messages (payloads cut to `payload_bytes`), and
no more than `max_topics` topics are kept; what does not fit is counted and reported in
`notes`, never silently dropped. Nothing here draws: the screen asks for the visible rows
(`rows`) at most once per tick.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from iotsim_tui.protocol.topics import has_wildcards, is_valid_topic_filter, topic_matches

MAX_TOPICS = 100_000
"""Topics kept; messages on further new topics are counted, not kept."""
MESSAGES_PER_TOPIC = 50
"""Recent messages kept per topic (their numeric fields make the charts)."""
PAYLOAD_BYTES = 16_384
"""Bytes of each payload kept; `Seen.size` is the whole length."""
MAX_KEPT = 300_000
"""Earlier messages kept over all topics (beyond each topic's last); past it, a topic keeps
as many as it had, so 100,000 topics cannot hold 50 messages each."""


class Seen(NamedTuple):
    """One message seen on the broker.

    The tree keeps each as a plain tuple (`Kept`): the garbage collector stops tracking a
    tuple of plain values, so the hundreds of thousands a flood leaves in the tree cost no
    pause when it runs (a full collection over them as objects takes hundreds of ms).
    """

    at: float
    """Arrival time (seconds since the epoch)."""
    topic: str
    payload: bytes
    """At most the tree's `payload_bytes`; `size` is the full length."""
    size: int
    qos: int
    retain: bool
    properties: tuple[tuple[str, str], ...] = ()
    """MQTT 5 properties as (name, text) pairs; user properties as ("user.NAME", value)."""

    @property
    def cut(self) -> bool:
        """True when only the start of the payload was kept."""
        return self.size > len(self.payload)


Kept = tuple[float, str, bytes, int, int, bool, tuple[tuple[str, str], ...]]
"""A `Seen` as the tree keeps it: a plain tuple."""


class TopicNode:
    """One level of the tree; a topic when messages arrived on exactly this path."""

    __slots__ = (
        "_current",
        "_last",
        "_previous",
        "_second",
        "children",
        "count",
        "messages",
        "name",
        "parent",
        "path",
        "topics",
    )

    def __init__(self, name: str, path: str, parent: TopicNode | None) -> None:
        self.name = name
        self.path = path
        self.parent = parent
        self.children: dict[str, TopicNode] = {}
        self.count = 0
        """Messages on this topic and every topic beneath it."""
        self.topics = 0
        """Topics (with messages) at and beneath this node."""
        self._last: Kept | None = None
        self.messages: list[Kept] | None = None
        """Earlier messages on this topic, oldest first (the last one included); None until
        a second message arrives, to keep 100,000 one-message topics small."""
        self._second = 0
        self._current = 0
        self._previous = 0

    @property
    def last(self) -> Seen | None:
        """The last message on exactly this topic."""
        return Seen._make(self._last) if self._last is not None else None

    @property
    def retained(self) -> bool:
        """Whether the last message on this topic was a retained one."""
        return self._last is not None and self._last[5]

    def recent(self) -> list[Seen]:
        """Kept messages on this topic, oldest first."""
        if self.messages is not None:
            return [Seen._make(kept) for kept in self.messages]
        return [Seen._make(self._last)] if self._last is not None else []

    def previous(self) -> Seen | None:
        """The message before the last one on this topic, when kept."""
        if self.messages is not None and len(self.messages) >= 2:
            return Seen._make(self.messages[-2])
        return None

    def rate(self, now: float) -> int:
        """Messages per second here and beneath, over the last whole second before `now`."""
        second = int(now)
        if second == self._second:
            return self._previous
        if second == self._second + 1:
            return self._current
        return 0

    def _counted(self, second: int) -> None:
        self.count += 1
        if second != self._second:
            self._previous = self._current if second == self._second + 1 else 0
            self._second = second
            self._current = 0
        self._current += 1


@dataclass(slots=True)
class Dropped:
    """What the caps kept out of the tree."""

    topics: int = 0
    """Messages on new topics once `max_topics` was reached."""
    messages: int = 0
    """Messages no longer kept because a topic already had `messages_per_topic`."""
    payloads: int = 0
    """Payloads cut to `payload_bytes`."""
    all_full: bool = False
    """The topics together held `max_kept` messages."""


@dataclass(slots=True)
class TopicTree:
    """Every topic seen, as a tree of `/` levels."""

    max_topics: int = MAX_TOPICS
    messages_per_topic: int = MESSAGES_PER_TOPIC
    payload_bytes: int = PAYLOAD_BYTES
    max_kept: int = MAX_KEPT
    kept: int = 0
    """Messages held in the topics' lists of earlier messages."""
    root: TopicNode = field(default_factory=lambda: TopicNode("", "", None))
    dropped: Dropped = field(default_factory=Dropped)
    shape: int = 0
    """Goes up whenever a node is added: the visible rows must be worked out again."""
    _topics: dict[str, TopicNode] = field(default_factory=dict)

    @property
    def topic_count(self) -> int:
        """Topics kept."""
        return len(self._topics)

    @property
    def message_count(self) -> int:
        """Messages seen, kept or not."""
        return self.root.count + self.dropped.topics

    def node(self, path: str) -> TopicNode | None:
        """The node at `path` (a topic or a level above topics), or None."""
        found = self._topics.get(path)
        if found is not None:
            return found
        node = self.root
        for name in path.split("/"):
            child = node.children.get(name)
            if child is None:
                return None
            node = child
        return node

    def add(self, seen: Seen | Kept) -> None:
        """Count one message and keep it (within the caps).

        A plain tuple in `Seen`'s order will do: what comes from another process as one
        unpickles several times faster than as a `Seen`.
        """
        at, topic, payload, size, qos, retain, properties = seen
        node = self._topics.get(topic)
        if node is None:
            if len(self._topics) >= self.max_topics:
                self.dropped.topics += 1
                return
            node = self._grow(topic)
        if len(payload) > self.payload_bytes:
            self.dropped.payloads += 1
            payload = payload[: self.payload_bytes]
        entry: Kept = (at, topic, payload, size, qos, retain, properties)
        if node._last is not None:
            kept = node.messages
            if kept is None:
                kept = node.messages = [node._last]
                self.kept += 1
            kept.append(entry)
            self.kept += 1
            full = self.kept > self.max_kept and len(kept) > 2
            if full or len(kept) > self.messages_per_topic:
                del kept[0]
                self.kept -= 1
                self.dropped.messages += 1
                self.dropped.all_full |= full
        node._last = entry
        second = int(at)
        step: TopicNode | None = node
        while step is not None:
            step._counted(second)
            step = step.parent

    def add_all(self, batch: Iterable[Seen | Kept]) -> None:
        """Count and keep a batch of messages, in order."""
        for seen in batch:
            self.add(seen)

    def _grow(self, topic: str) -> TopicNode:
        node = self.root
        for name in topic.split("/"):
            child = node.children.get(name)
            if child is None:
                path = name if node is self.root else f"{node.path}/{name}"
                child = node.children[name] = TopicNode(name, path, node)
            node = child
        self._topics[topic] = node
        step: TopicNode | None = node
        while step is not None:
            step.topics += 1
            step = step.parent
        self.shape += 1
        return node

    @property
    def notes(self) -> list[str]:
        """What the caps did, in words, for the screen."""
        notes = []
        if self.dropped.topics:
            notes.append(
                f"topic cap {self.max_topics:,} reached: "
                f"{self.dropped.topics:,} messages on new topics not kept"
            )
        if self.dropped.all_full:
            notes.append(f"{self.max_kept:,} messages kept in all")
        elif self.dropped.messages:
            notes.append(f"{self.messages_per_topic} messages kept per topic")
        if self.dropped.payloads:
            notes.append(f"payloads cut to {self.payload_bytes:,} bytes")
        return notes


class TopicFilter:
    """What the user typed to narrow the tree: an MQTT filter (`+`, `#`) or free text.

    Free text matches topics that contain it, in any case.
    """

    def __init__(self, text: str) -> None:
        self.text = text.strip()
        self.mqtt = has_wildcards(self.text) and is_valid_topic_filter(self.text)
        self._folded = self.text.casefold()

    def __bool__(self) -> bool:
        return bool(self.text)

    def matches(self, topic: str) -> bool:
        """Whether `topic` passes the filter (everything passes an empty one)."""
        if not self.text:
            return True
        if self.mqtt:
            return topic_matches(self.text, topic)
        return self._folded in topic.casefold()

    def describe(self) -> str:
        """The filter as the screen names it."""
        return f"MQTT filter {self.text}" if self.mqtt else f"text {self.text!r}"


@dataclass(frozen=True, slots=True)
class Row:
    """One visible line of the tree."""

    node: TopicNode
    depth: int
    folded: bool
    """True when it has children that are not shown."""


def rows(tree: TopicTree, unfolded: set[str], wanted: TopicFilter) -> list[Row]:
    """The lines to show: children of unfolded nodes, in name order.

    With a filter, only the levels leading to a matching topic are shown, unfolded.
    """
    shown: list[Row] = []
    if wanted:
        keep = _matching(tree.root, wanted)
        _walk_filtered(tree.root, 0, keep, shown)
    else:
        _walk(tree.root, 0, unfolded, shown)
    return shown


def _walk(node: TopicNode, depth: int, unfolded: set[str], shown: list[Row]) -> None:
    for name in sorted(node.children):
        child = node.children[name]
        is_open = child.path in unfolded
        shown.append(Row(child, depth, bool(child.children) and not is_open))
        if is_open:
            _walk(child, depth + 1, unfolded, shown)


def _matching(root: TopicNode, wanted: TopicFilter) -> set[int]:
    """Ids of the nodes on the way to a topic the filter matches."""
    keep: set[int] = set()
    for node in _topics_beneath(root):
        if node._last is not None and wanted.matches(node.path):
            step: TopicNode | None = node
            while step is not None and id(step) not in keep:
                keep.add(id(step))
                step = step.parent
    return keep


def _topics_beneath(node: TopicNode) -> Iterator[TopicNode]:
    stack = list(node.children.values())
    while stack:
        step = stack.pop()
        yield step
        stack.extend(step.children.values())


def _walk_filtered(node: TopicNode, depth: int, keep: set[int], shown: list[Row]) -> None:
    for name in sorted(node.children):
        child = node.children[name]
        if id(child) in keep:
            shown.append(Row(child, depth, False))
            _walk_filtered(child, depth + 1, keep, shown)
