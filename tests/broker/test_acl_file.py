"""The ACL file: mosquitto's format, its errors located by line, and what its rules allow."""

from __future__ import annotations

from pathlib import Path

import pytest

from iotsim_tui.broker.acl import Access, AccessControl, filter_within
from iotsim_tui.errors import BrokerError

EXAMPLE = """\
# anonymous clients: rules before any user line
topic read public/#

user alice
topic readwrite home/#
topic deny home/secret/#
topic write   alarms/fire
topic sensors/#

user bob smith
topic read home/kitchen/+

pattern write devices/%c/status
pattern read commands/%u/#
"""


def test_a_valid_file_parses_into_anonymous_user_and_pattern_rules(tmp_path: Path) -> None:
    path = tmp_path / "acl.txt"
    path.write_text(EXAMPLE)
    control = AccessControl.load(path)
    assert [(r.access, r.topic_filter) for r in control.anonymous] == [(Access.READ, "public/#")]
    assert [(r.access, r.topic_filter, r.line) for r in control.users["alice"]] == [
        (Access.READWRITE, "home/#", 5),
        (Access.DENY, "home/secret/#", 6),
        (Access.WRITE, "alarms/fire", 7),
        (Access.READWRITE, "sensors/#", 8),  # no access word: readwrite, as in mosquitto
    ]
    assert list(control.users) == ["alice", "bob smith"]  # a user name may hold spaces
    assert [(r.access, r.topic_filter) for r in control.patterns] == [
        (Access.WRITE, "devices/%c/status"),
        (Access.READ, "commands/%u/#"),
    ]


def test_what_the_rules_allow() -> None:
    control = AccessControl.parse(EXAMPLE)
    alice = control.client("phone", "alice")
    assert alice.can_write("home/kitchen/light")
    assert alice.can_read("home/kitchen/light")
    assert not alice.can_read("home/secret/safe")  # deny wins over readwrite home/#
    assert not alice.can_write("home/secret/safe")
    assert alice.can_write("alarms/fire")
    assert not alice.can_read("alarms/fire")  # write only
    assert not alice.can_read("public/news")  # the anonymous rules are not alice's
    assert alice.can_subscribe("home/#")
    assert alice.can_subscribe("home/+/light")
    assert not alice.can_subscribe("home/secret/+")
    assert not alice.can_subscribe("#")
    anonymous = control.client("visitor", None)
    assert anonymous.can_read("public/news")
    assert not anonymous.can_write("public/news")
    assert not anonymous.can_read("home/kitchen/light")


def test_patterns_fill_in_client_id_and_user_name() -> None:
    control = AccessControl.parse(EXAMPLE)
    bob = control.client("TS1", "bob smith")
    assert bob.can_write("devices/TS1/status")
    assert not bob.can_write("devices/TS2/status")
    assert bob.can_read("commands/bob smith/reboot")
    assert not bob.can_read("commands/alice/reboot")
    assert bob.can_subscribe("commands/bob smith/#")
    assert bob.can_subscribe("home/kitchen/+")
    assert not bob.can_subscribe("home/+/+")
    # %u never matches an anonymous client; %c still does.
    anonymous = control.client("TS3", None)
    assert anonymous.can_write("devices/TS3/status")
    assert not anonymous.can_subscribe("commands/+/#")


@pytest.mark.parametrize("client_id", ["+", "#", "a/b", "dev+"])
def test_a_client_id_cannot_widen_a_pattern(client_id: str) -> None:
    control = AccessControl.parse("pattern readwrite devices/%c/#\n")
    access = control.client(client_id, None)
    assert not access.can_write("devices/other/status")
    assert not access.can_subscribe("devices/+/#")


@pytest.mark.parametrize(
    ("inner", "outer", "within"),
    [
        ("a/b", "a/b", True),
        ("a/+/c", "a/#", True),
        ("a/#", "a/#", True),
        ("a", "a/#", True),
        ("a/#", "a/+", False),
        ("a/+", "a/b", False),
        ("a/b", "a/+", True),
        ("#", "#", True),
        ("$SYS/#", "#", False),
        ("#", "$SYS/#", False),
        ("$SYS/broker/uptime", "$SYS/#", True),
        ("a/b/c", "a/+", False),
    ],
)
def test_filter_within(inner: str, outer: str, within: bool) -> None:
    assert filter_within(inner, outer) is within


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("user alice\ntopic read a/#\nallow all\n", 3, "unknown keyword 'allow'"),
        ("# c\n\nuser\n", 3, "`user` needs a user name"),
        ("topic read\n", 1, "`topic` needs a topic filter"),
        ("user a\n\ntopic read a/#/b\n", 3, "'#' must be a whole level"),
        ("pattern write a/b+/%c\n", 1, "'+' must be a whole level"),
        ("topic read devices/%c/x\n", 1, "only on `pattern` lines"),
    ],
)
def test_errors_name_the_file_and_line(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = tmp_path / "acl.txt"
    path.write_text(text)
    with pytest.raises(BrokerError) as raised:
        AccessControl.load(path)
    assert raised.value.message.startswith(f"{path}:{line}: ")
    assert problem in raised.value.message
    assert raised.value.title == "ACL file error"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match=r"ACL file .*nope\.acl does not exist"):
        AccessControl.load(tmp_path / "nope.acl")
