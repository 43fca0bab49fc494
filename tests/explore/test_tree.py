"""The topic tree's model: counts and rates per level, caps with their notes, filters, rows."""

from __future__ import annotations

from iotsim_tui.explore.tree import Seen, TopicFilter, TopicTree, rows


def seen(topic: str, payload: bytes = b"1", at: float = 100.0, *, retain: bool = False) -> Seen:
    return Seen(at, topic, payload, len(payload), 0, retain)


def test_levels_count_every_message_beneath_them_and_topics_keep_their_last() -> None:
    tree = TopicTree()
    tree.add_all([seen("a/b/c", b"1"), seen("a/b/c", b"2"), seen("a/d", b"x", retain=True)])
    a = tree.node("a")
    assert a is not None
    assert (a.count, a.topics, a.last) == (3, 2, None)
    c = tree.node("a/b/c")
    assert c is not None
    assert c.last is not None
    assert c.last.payload == b"2"
    assert [m.payload for m in c.recent()] == [b"1", b"2"]
    before = c.previous()
    assert before is not None
    assert before.payload == b"1"
    d = tree.node("a/d")
    assert d is not None
    assert d.retained
    assert d.recent() == [d.last]
    assert d.previous() is None
    assert tree.topic_count == 2
    assert tree.message_count == 3
    assert tree.node("a/nothing") is None


def test_the_rate_is_the_last_whole_second() -> None:
    tree = TopicTree()
    tree.add_all([seen("a/b", at=100.1), seen("a/b", at=100.5), seen("a/c", at=100.9)])
    a = tree.node("a")
    assert a is not None
    assert a.rate(100.95) == 0  # the second is not over yet
    assert a.rate(101.2) == 3
    tree.add(seen("a/b", at=101.3))
    assert a.rate(101.5) == 3
    assert a.rate(102.0) == 1
    assert a.rate(105.0) == 0


def test_caps_bound_topics_messages_and_payloads_and_say_so() -> None:
    tree = TopicTree(max_topics=3, messages_per_topic=4, payload_bytes=8)
    for n in range(5):
        tree.add(seen(f"dev/{n}"))
    assert tree.topic_count == 3
    assert tree.dropped.topics == 2
    assert tree.message_count == 5
    for n in range(10):
        tree.add(seen("dev/0", str(n).encode()))
    node = tree.node("dev/0")
    assert node is not None
    assert [m.payload for m in node.recent()] == [b"6", b"7", b"8", b"9"]
    assert node.count == 11
    tree.add(seen("dev/1", b"0123456789abcdef"))
    last = tree.node("dev/1").last  # type: ignore[union-attr]
    assert last is not None
    assert last.payload == b"01234567"
    assert last.size == 16
    assert last.cut
    notes = " | ".join(tree.notes)
    assert "topic cap 3 reached: 2 messages on new topics not kept" in notes
    assert "4 messages kept per topic" in notes
    assert "payloads cut to 8 bytes" in notes


def test_filters_take_mqtt_wildcards_or_free_text() -> None:
    assert TopicFilter("home/+/temp").mqtt
    assert TopicFilter("home/#").mqtt
    assert not TopicFilter("Temp").mqtt
    assert not TopicFilter("a/#/b").mqtt
    assert TopicFilter("home/+/temp").matches("home/kitchen/temp")
    assert not TopicFilter("home/+/temp").matches("home/kitchen/hum")
    assert TopicFilter("TEMP").matches("home/kitchen/temp")
    assert not TopicFilter("TEMP").matches("home/kitchen/hum")
    assert TopicFilter("").matches("anything")
    assert not TopicFilter("  ")


def test_rows_show_unfolded_levels_in_name_order_and_filters_open_the_way() -> None:
    tree = TopicTree()
    tree.add_all([seen(t) for t in ("b/y", "a/x/1", "a/x/2", "$SYS/broker/uptime", "b/z")])
    names = [(r.node.path, r.depth, r.folded) for r in rows(tree, set(), TopicFilter(""))]
    assert names == [("$SYS", 0, True), ("a", 0, True), ("b", 0, True)]
    shown = rows(tree, {"a", "b"}, TopicFilter(""))
    assert [r.node.path for r in shown] == ["$SYS", "a", "a/x", "b", "b/y", "b/z"]
    assert [r.node.path for r in rows(tree, set(), TopicFilter("a/+/2"))] == ["a", "a/x", "a/x/2"]
    assert [r.node.path for r in rows(tree, set(), TopicFilter("Z"))] == ["b", "b/z"]


def test_a_hundred_thousand_one_message_topics_stay_small() -> None:
    import tracemalloc

    tracemalloc.start()
    tree = TopicTree()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(20_000):
        tree.add(Seen(100.0, f"site/{n % 100}/dev{n}/telemetry", b'{"t": 21.5}', 11, 0, False))
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    # ~1 KB a topic (its levels, the message, the index) leaves 100,000 topics near 100 MB.
    assert used / 20_000 < 1_500, f"{used / 20_000:.0f} bytes a topic"


def test_all_topics_together_keep_at_most_max_kept_messages() -> None:
    tree = TopicTree(messages_per_topic=50, max_kept=10)
    for repeat in range(5):
        for n in range(4):
            tree.add(seen(f"dev/{n}", str(repeat).encode()))
    assert tree.kept <= 10 + 4  # a topic past the cap still keeps its last two
    first = tree.node("dev/0")
    assert first is not None
    assert [m.payload for m in first.recent()][-1] == b"4"
    assert "10 messages kept in all" in tree.notes
