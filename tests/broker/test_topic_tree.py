"""The topic tree that indexes retained messages: it finds exactly what topic matching finds."""

from __future__ import annotations

import itertools
import random

import pytest

from iotsim_tui.broker.topic_tree import TopicTree
from iotsim_tui.protocol.topics import topic_matches

LEVELS = ["a", "b", "", "$SYS", "c d"]


def _topics() -> list[str]:
    found = {"/".join(p) for n in (1, 2, 3) for p in itertools.product(LEVELS, repeat=n)}
    return sorted(t for t in found if t)  # "" is no topic; "/" and "a//b" are


FILTERS = [
    "#",
    "+",
    "+/+",
    "a/#",
    "a/+",
    "+/b/#",
    "/#",
    "+/#",
    "$SYS/#",
    "$SYS/+",
    "a//b",
    "c d/+/a",
    "a",
    "b/+/+",
]


@pytest.mark.parametrize("topic_filter", FILTERS)
def test_walk_finds_what_topic_matching_finds(topic_filter: str) -> None:
    tree: TopicTree[str] = TopicTree()
    topics = _topics()
    for topic in topics:
        tree.set(topic, topic.upper())
    expected = {t for t in topics if topic_matches(topic_filter, t)}
    found = dict(tree.walk(topic_filter))
    assert set(found) == expected
    assert all(value == topic.upper() for topic, value in found.items())


def test_set_get_delete_and_count() -> None:
    tree: TopicTree[int] = TopicTree()
    assert tree.set("a/b/c", 1)
    assert not tree.set("a/b/c", 2)  # replaced, not new
    assert tree.set("a/b", 3)
    assert (len(tree), tree.get("a/b/c"), tree.get("a/b"), tree.get("a")) == (2, 2, 3, None)
    assert tree.delete("a/b/c") == 2
    assert tree.delete("a/b/c") is None
    assert tree.delete("a/b") == 3
    assert len(tree) == 0
    assert list(tree.items()) == []


def test_walking_while_the_tree_changes_is_safe() -> None:
    tree: TopicTree[int] = TopicTree()
    for n in range(200):
        tree.set(f"r/{n % 10}/{n}", n)
    seen = []
    for topic, value in tree.walk("r/#"):
        seen.append(value)
        tree.delete(topic)
        tree.set(f"new/{value}", value)  # what a paused SUBSCRIBE may meet
    assert sorted(seen) == list(range(200))
    assert len(tree) == 200


def test_many_levels_do_not_recurse() -> None:
    tree: TopicTree[int] = TopicTree()
    deep = "/".join(["x"] * 5000)
    tree.set(deep, 1)
    assert [value for _, value in tree.walk("#")] == [1]
    assert [value for _, value in tree.walk("x/#")] == [1]


def test_a_random_mix_matches_topic_matching() -> None:
    rng = random.Random(12)
    tree: TopicTree[int] = TopicTree()
    topics = {"/".join(rng.choice("abc") for _ in range(rng.randint(1, 4))) for _ in range(300)}
    for n, topic in enumerate(sorted(topics)):
        tree.set(topic, n)
    for _ in range(100):
        levels = [rng.choice(["a", "b", "c", "+"]) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.3:
            levels[-1] = "#"
        topic_filter = "/".join(levels)
        expected = {t for t in topics if topic_matches(topic_filter, t)}
        assert {t for t, _ in tree.walk(topic_filter)} == expected, topic_filter
