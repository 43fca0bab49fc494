"""Access control lists in mosquitto's `acl_file` format: who may read and write which topics.

    # rules before any `user` line apply to anonymous clients
    topic read $SYS/#

    user alice
    topic readwrite home/#          # no access word: readwrite
    topic deny home/secret/#

    # for every client: %c is its client id, %u its user name
    pattern write devices/%c/status
    pattern read commands/%u/#

When an ACL is loaded, anything no rule allows is denied, and a `deny` rule that matches wins
over any rule that allows. Checks:

- PUBLISH: the topic must match a `write` rule (refused: 5.0 PUBACK/PUBREC 0x87; 3.1.1
  acknowledged and dropped). A will on a topic it may not write is dropped at CONNECT (the
  client is accepted, as mosquitto does).
- SUBSCRIBE: the filter must lie within a `read` rule's filter (`a/#` allows `a/+/b`, `a/+`
  does not allow `a/#`); refused: 3.1.1 SUBACK 0x80, 5.0 0x87.
- Delivery: each message, retained ones too, goes only where its topic may be read.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from iotsim_tui.errors import BrokerError
from iotsim_tui.protocol.topics import TopicError, topic_matches, validate_topic_filter

_TITLE = "ACL file error"


class Access(enum.IntFlag):
    """What a rule grants, as in mosquitto's ACL file."""

    DENY = 0
    READ = 1
    WRITE = 2
    READWRITE = 3


_ACCESS_WORDS = {
    "read": Access.READ,
    "write": Access.WRITE,
    "readwrite": Access.READWRITE,
    "deny": Access.DENY,
}


@dataclass(frozen=True, slots=True)
class Rule:
    """One `topic` or `pattern` line."""

    access: Access
    topic_filter: str
    line: int
    pattern: bool = False
    """A `pattern` line: %c and %u are filled in for each client."""

    def filter_for(self, client_id: str, username: str | None) -> str | None:
        """The filter for this client; None when a pattern cannot apply to it.

        A pattern naming %u does not apply to anonymous clients; one whose client id or user
        name holds `+`, `#` or `/` is skipped, so no one widens a rule by choosing a name.
        """
        if not self.pattern:
            return self.topic_filter
        text = self.topic_filter
        if "%u" in text:
            if username is None or not _plain_level(username):
                return None
            text = text.replace("%u", username)
        if "%c" in text:
            if not _plain_level(client_id):
                return None
            text = text.replace("%c", client_id)
        return text


def _plain_level(name: str) -> bool:
    return bool(name) and not any(char in name for char in "+#/")


class AccessControl:
    """The rules of one ACL file, and the checks the broker asks of them."""

    def __init__(
        self,
        anonymous: list[Rule] | None = None,
        users: dict[str, list[Rule]] | None = None,
        patterns: list[Rule] | None = None,
    ) -> None:
        self.anonymous = anonymous or []
        self.users = users or {}
        self.patterns = patterns or []

    @classmethod
    def load(cls, path: Path) -> AccessControl:
        """Read an ACL file.

        Raises:
            BrokerError: It cannot be read, or a line is wrong (`acl.txt:7: problem`).
        """
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise BrokerError(f"ACL file {path} does not exist", title=_TITLE) from None
        except (OSError, UnicodeDecodeError) as error:
            raise BrokerError(f"cannot read ACL file {path}: {error}", title=_TITLE) from None
        return cls.parse(text, str(path))

    @classmethod
    def parse(cls, text: str, name: str = "acl") -> AccessControl:
        """Parse the text of an ACL file; `name` is how errors name the file."""
        control = cls()
        current: list[Rule] = control.anonymous
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            keyword, _, rest = line.partition(" ")
            rest = rest.strip()
            try:
                if keyword == "user":
                    if not rest:
                        raise ValueError("`user` needs a user name")
                    current = control.users.setdefault(rest, [])
                elif keyword in ("topic", "pattern"):
                    rule = _rule(keyword, rest, number)
                    (control.patterns if rule.pattern else current).append(rule)
                else:
                    raise ValueError(
                        f"unknown keyword {keyword!r}: expected user, topic or pattern"
                    )
            except ValueError as error:
                raise BrokerError(f"{name}:{number}: {error}", title=_TITLE) from None
        return control

    def rules_for(self, client_id: str, username: str | None) -> list[tuple[Access, str]]:
        """(access, filter) of every rule that applies to this client, patterns filled in."""
        own = self.anonymous if username is None else self.users.get(username, [])
        found = [(rule.access, rule.topic_filter) for rule in own]
        for rule in self.patterns:
            topic_filter = rule.filter_for(client_id, username)
            if topic_filter is not None:
                found.append((rule.access, topic_filter))
        return found

    def client(self, client_id: str, username: str | None) -> ClientAccess:
        """The checks for one connected client (rules resolved once, at CONNECT)."""
        return ClientAccess(self.rules_for(client_id, username), client_id, username)


class ClientAccess:
    """One client's rules, and what they allow."""

    def __init__(
        self, rules: list[tuple[Access, str]], client_id: str = "", username: str | None = None
    ) -> None:
        self.client_id = client_id
        self.username = username
        self._deny = [f for access, f in rules if access == Access.DENY]
        self._read = [f for access, f in rules if access & Access.READ]
        self._write = [f for access, f in rules if access & Access.WRITE]
        self._readable: dict[str, bool] = {}

    def can_write(self, topic: str) -> bool:
        """True when the client may publish to `topic`."""
        if any(topic_matches(f, topic) for f in self._deny):
            return False
        return any(topic_matches(f, topic) for f in self._write)

    def can_read(self, topic: str) -> bool:
        """True when a message on `topic` may be delivered to the client."""
        known = self._readable.get(topic)
        if known is not None:
            return known
        allowed = not any(topic_matches(f, topic) for f in self._deny) and any(
            topic_matches(f, topic) for f in self._read
        )
        if len(self._readable) >= 4096:
            self._readable.clear()
        self._readable[topic] = allowed
        return allowed

    def can_subscribe(self, topic_filter: str) -> bool:
        """True when the client may subscribe to `topic_filter` (after any `$share/g/`)."""
        if any(filter_within(topic_filter, f) for f in self._deny):
            return False
        return any(filter_within(topic_filter, f) for f in self._read)


def filter_within(inner: str, outer: str) -> bool:
    """True when every topic `inner` matches is also matched by `outer`."""
    if inner.startswith("$") != outer.startswith("$") and outer[:1] in ("+", "#"):
        return False
    inner_levels = inner.split("/")
    outer_levels = outer.split("/")
    for index, level in enumerate(outer_levels):
        if level == "#":
            return True
        if index >= len(inner_levels):
            return False
        mine = inner_levels[index]
        if mine == "#":
            return False
        if level != "+" and (mine == "+" or mine != level):
            return False
    return len(inner_levels) == len(outer_levels)


def _rule(keyword: str, rest: str, number: int) -> Rule:
    word, _, after = rest.partition(" ")
    access = _ACCESS_WORDS.get(word)
    topic_filter = after.strip() if access is not None else rest
    if access is None:
        access = Access.READWRITE
    if not topic_filter:
        raise ValueError(f"`{keyword}` needs a topic filter, as in `{keyword} read sensors/#`")
    try:
        validate_topic_filter(topic_filter.replace("%c", "c").replace("%u", "u"), shared=False)
    except TopicError as error:
        raise ValueError(f"{topic_filter!r}: {error}") from None
    if keyword == "topic" and ("%c" in topic_filter or "%u" in topic_filter):
        raise ValueError("%c and %u are filled in only on `pattern` lines, not `topic` lines")
    return Rule(access, topic_filter, number, keyword == "pattern")
