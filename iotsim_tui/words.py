"""Counts in words: a number and a noun that agree, the same way on every screen and line.

`counted(1, "message")` is "1 message", `counted(2, "message")` "2 messages", and
`counted(1000, "device")` "1,000 devices". Every count shown to a user goes through it, so no
screen ever says "1 messages".
"""

from __future__ import annotations


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, singular for exactly one, with thousands separated.

    `plural` is for nouns that do not just take an "s" ("entry", "entries").
    """
    word = noun if count == 1 else (plural if plural is not None else noun + "s")
    return f"{count:,} {word}"


def agreeing(count: int, singular: str, plural: str) -> str:
    """The word (a verb, a pronoun) that agrees with `count`: `agreeing(1, "was", "were")`."""
    return singular if count == 1 else plural
