"""MQTT topic names and topic filters: validation and matching (MQTT 3.1.1 s4.7, 5.0 s4.7-4.8).

Pure functions, no I/O: the profile loader, the broker, the engine and the eavesdrop
dissector all check topics by the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_TOPIC_BYTES = 65_535
SHARE_PREFIX = "$share/"


class TopicError(ValueError):
    """A topic name or filter breaks the MQTT rules; the message says which rule."""


def _check_common(topic: str, what: str) -> None:
    if not topic:
        raise TopicError(f"{what} must not be empty")
    if "\x00" in topic:
        raise TopicError(f"{what} must not contain the null character U+0000")
    if any(0xD800 <= ord(char) <= 0xDFFF for char in topic):
        raise TopicError(f"{what} must not contain UTF-16 surrogates")
    if len(topic.encode("utf-8", "surrogatepass")) > MAX_TOPIC_BYTES:
        raise TopicError(f"{what} must be at most {MAX_TOPIC_BYTES} bytes of UTF-8")


def validate_topic_name(topic: str) -> None:
    """Raise `TopicError` unless `topic` is a valid name to publish to (no wildcards)."""
    _check_common(topic, "a topic name")
    if "+" in topic or "#" in topic:
        raise TopicError("a topic name must not contain the wildcards '+' or '#'")


def validate_topic_filter(topic_filter: str, *, shared: bool = True) -> None:
    """Raise `TopicError` unless `topic_filter` is a valid subscription filter.

    Wildcards must fill a whole level, and `#` must be the last level. A shared subscription
    (`$share/group/filter`) is checked as its group and its filter; with `shared=False`
    (MQTT 3.1.1, which has no shared subscriptions) it is an ordinary filter.
    """
    _check_common(topic_filter, "a topic filter")
    if shared and topic_filter.startswith(SHARE_PREFIX):
        SharedFilter.parse(topic_filter)
        return
    levels = topic_filter.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise TopicError("'#' must be a whole level and the last one, as in 'a/b/#'")
        if "+" in level and level != "+":
            raise TopicError("'+' must be a whole level, as in 'a/+/c'")


def is_valid_topic_name(topic: str) -> bool:
    """True when `topic` may be published to."""
    try:
        validate_topic_name(topic)
    except TopicError:
        return False
    return True


def is_valid_topic_filter(topic_filter: str) -> bool:
    """True when `topic_filter` may be subscribed to."""
    try:
        validate_topic_filter(topic_filter)
    except TopicError:
        return False
    return True


def has_wildcards(topic_filter: str) -> bool:
    """True when the filter matches more than one topic name."""
    return "+" in topic_filter or "#" in topic_filter


def topic_matches(topic_filter: str, topic: str) -> bool:
    """True when the topic name `topic` matches `topic_filter`.

    Both are assumed valid. A filter that starts with a wildcard never matches a topic that
    starts with `$` (so `#` does not see `$SYS/...`).
    """
    if topic.startswith("$") and topic_filter[:1] in ("+", "#"):
        return False
    filter_levels = topic_filter.split("/")
    topic_levels = topic.split("/")
    for index, level in enumerate(filter_levels):
        if level == "#":
            return True
        if index >= len(topic_levels):
            return False
        if level != "+" and level != topic_levels[index]:
            return False
    return len(filter_levels) == len(topic_levels)


@dataclass(frozen=True, slots=True)
class SharedFilter:
    """A shared subscription, `$share/{group}/{topic_filter}` (MQTT 5.0 s4.8.2)."""

    group: str
    topic_filter: str

    @classmethod
    def parse(cls, text: str) -> SharedFilter:
        """Split a `$share/...` filter, raising `TopicError` when it is malformed."""
        if not text.startswith(SHARE_PREFIX):
            raise TopicError("a shared subscription starts with '$share/'")
        group, slash, topic_filter = text[len(SHARE_PREFIX) :].partition("/")
        if not group or not slash or not topic_filter:
            raise TopicError("a shared subscription is '$share/GROUP/FILTER' with both parts")
        if "+" in group or "#" in group:
            raise TopicError("a share group name must not contain '+' or '#'")
        validate_topic_filter(topic_filter)
        if topic_filter.startswith(SHARE_PREFIX):
            raise TopicError("a shared subscription cannot share another one")
        return cls(group, topic_filter)


def matched_filter(topic_filter: str) -> str:
    """The filter topics are matched against: a shared subscription's, after its group."""
    if topic_filter.startswith(SHARE_PREFIX):
        return SharedFilter.parse(topic_filter).topic_filter
    return topic_filter
