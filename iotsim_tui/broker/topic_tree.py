"""A tree of values by topic level, walked by topic filter: how retained messages are indexed.

`"a/b/c"` is stored under the nodes `a`, `b`, `c`, so finding what a filter matches visits only
the branches the filter can reach: `zz/+/1` over 100,000 topics under `r/...` looks at one
child of the root and stops. `walk` is a generator that never holds a view of a dict across a
`yield`, so a caller may take what it matches in slices, letting other work run in between,
while the tree changes.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

V = TypeVar("V")


class _Node(Generic[V]):
    __slots__ = ("children", "value")

    def __init__(self) -> None:
        self.children: dict[str, _Node[V]] = {}
        self.value: V | None = None


class TopicTree(Generic[V]):
    """One value per topic name, found by exact topic or by topic filter."""

    def __init__(self) -> None:
        self._root: _Node[V] = _Node()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def get(self, topic: str) -> V | None:
        """The value stored at exactly `topic`, or None."""
        node = self._root
        for level in topic.split("/"):
            child = node.children.get(level)
            if child is None:
                return None
            node = child
        return node.value

    def set(self, topic: str, value: V) -> bool:
        """Store `value` at `topic`; True when the topic had no value before."""
        node = self._root
        for level in topic.split("/"):
            child = node.children.get(level)
            if child is None:
                child = node.children[level] = _Node()
            node = child
        new = node.value is None
        node.value = value
        self._count += new
        return new

    def delete(self, topic: str) -> V | None:
        """Remove the value at `topic` (and the branches left empty); return it, or None."""
        levels = topic.split("/")
        path = [self._root]
        for level in levels:
            child = path[-1].children.get(level)
            if child is None:
                return None
            path.append(child)
        old = path[-1].value
        if old is None:
            return None
        path[-1].value = None
        self._count -= 1
        for parent, level in zip(reversed(path[:-1]), reversed(levels), strict=True):
            node = parent.children[level]
            if node.value is not None or node.children:
                break
            del parent.children[level]
        return old

    def items(self) -> Iterator[tuple[str, V]]:
        """Every (topic, value), depth first."""
        return self.walk("#", include_dollar=True)

    def walk(self, topic_filter: str, *, include_dollar: bool = False) -> Iterator[tuple[str, V]]:
        """(topic, value) for every topic `topic_filter` matches, found branch by branch.

        By the MQTT rules a first-level wildcard does not match topics starting with `$`
        (unless `include_dollar`, for listing everything). A shared filter must be passed
        without its `$share/group/` prefix.
        """
        for found in self.steps(topic_filter, include_dollar=include_dollar):
            if found is not None:
                yield found

    def steps(
        self, topic_filter: str, *, include_dollar: bool = False, every: int = 256
    ) -> Iterator[tuple[str, V] | None]:
        """`walk`, also yielding None after every `every` nodes visited.

        A filter like `+/+/x` may visit many nodes and match none; the Nones let a caller that
        takes the results a slice at a time stop between slices even then.
        """
        visited = 0
        levels = topic_filter.split("/")
        depth = len(levels)
        everything = depth  # an index past the filter: the whole branch matches ("#")
        # (node, index of the filter level to match next, the topic's levels so far)
        stack: list[tuple[_Node[V], int, tuple[str, ...]]] = [(self._root, 0, ())]
        while stack:
            visited += 1
            if visited % every == 0:
                yield None
            node, index, path = stack.pop()
            if index > everything:
                if node.value is not None:
                    yield "/".join(path), node.value
                stack.extend(
                    (child, index, (*path, name)) for name, child in list(node.children.items())
                )
                continue
            if index == depth:
                if node.value is not None:
                    yield "/".join(path), node.value
                continue
            level = levels[index]
            if level == "#":
                # "a/#" matches "a" itself, then everything below.
                if index and node.value is not None:
                    yield "/".join(path), node.value
                for name, child in list(node.children.items()):
                    if not (index == 0 and name.startswith("$") and not include_dollar):
                        stack.append((child, everything + 1, (*path, name)))
            elif level == "+":
                for name, child in list(node.children.items()):
                    if not (index == 0 and name.startswith("$") and not include_dollar):
                        stack.append((child, index + 1, (*path, name)))
            else:
                exact = node.children.get(level)
                if exact is not None:
                    stack.append((exact, index + 1, (*path, level)))
