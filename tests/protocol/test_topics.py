import pytest

from iotsim_tui.protocol.topics import (
    SharedFilter,
    TopicError,
    is_valid_topic_filter,
    is_valid_topic_name,
    matched_filter,
    topic_matches,
    validate_topic_filter,
    validate_topic_name,
)


@pytest.mark.parametrize("name", ["a", "a/b", "/", "a//b", "$SYS/x", "sport/🎾/score", " "])
def test_valid_topic_names(name: str) -> None:
    validate_topic_name(name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "a topic name must not be empty"),
        ("a/+/b", "a topic name must not contain the wildcards '+' or '#'"),
        ("a/#", "a topic name must not contain the wildcards '+' or '#'"),
        ("a\x00b", "a topic name must not contain the null character U+0000"),
        ("a\ud800", "a topic name must not contain UTF-16 surrogates"),
        ("x" * 65_536, "a topic name must be at most 65535 bytes of UTF-8"),
    ],
)
def test_invalid_topic_names(name: str, message: str) -> None:
    with pytest.raises(TopicError) as caught:
        validate_topic_name(name)
    assert str(caught.value) == message


@pytest.mark.parametrize("topic_filter", ["#", "+", "a/+/c", "a/#", "+/+", "/+", "$share/g/a/#"])
def test_valid_filters(topic_filter: str) -> None:
    validate_topic_filter(topic_filter)


@pytest.mark.parametrize(
    ("topic_filter", "message"),
    [
        ("a/#/b", "'#' must be a whole level and the last one, as in 'a/b/#'"),
        ("a#", "'#' must be a whole level and the last one, as in 'a/b/#'"),
        ("a+/b", "'+' must be a whole level, as in 'a/+/c'"),
        ("$share/g", "a shared subscription is '$share/GROUP/FILTER' with both parts"),
        ("$share//a", "a shared subscription is '$share/GROUP/FILTER' with both parts"),
        ("$share/g+/a", "a share group name must not contain '+' or '#'"),
    ],
)
def test_invalid_filters(topic_filter: str, message: str) -> None:
    with pytest.raises(TopicError) as caught:
        validate_topic_filter(topic_filter)
    assert str(caught.value) == message
    assert not is_valid_topic_filter(topic_filter)


@pytest.mark.parametrize(
    ("topic_filter", "topic", "expected"),
    [
        ("a/b", "a/b", True),
        ("a/b", "a/c", False),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("#", "a/b", True),
        ("+/+", "/x", True),
        ("+", "/x", False),
        ("#", "$SYS/broker", False),
        ("+/broker", "$SYS/broker", False),
        ("$SYS/#", "$SYS/broker/uptime", True),
        ("a/b/c", "a/b", False),
    ],
)
def test_matching(topic_filter: str, topic: str, expected: bool) -> None:
    assert topic_matches(topic_filter, topic) is expected


def test_shared_filter_parts() -> None:
    assert SharedFilter.parse("$share/workers/jobs/+") == SharedFilter("workers", "jobs/+")
    assert is_valid_topic_name("a/b")
    assert not is_valid_topic_name("a/+")


def test_a_shared_subscription_matches_by_its_filter_after_the_group() -> None:
    assert matched_filter("$share/console/fleet/+/cmd") == "fleet/+/cmd"
    assert matched_filter("fleet/+/cmd") == "fleet/+/cmd"
    with pytest.raises(TopicError):
        matched_filter("$share/nogroup")
