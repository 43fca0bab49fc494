"""One hierarchy of expected failures, shown alike by the command line and the app.

Every error carries a `title` (a few words, for a notification's heading) and a `message`
(a sentence in plain words that says what is wrong, where, and what to do). Anything that
is not an `IotsimError` is a bug and is allowed to show a traceback.
"""

from __future__ import annotations

import json


class IotsimError(Exception):
    """An expected failure with a message a user can act on."""

    title = "Error"
    exit_code = 1

    def __init__(self, message: str, *, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def __str__(self) -> str:
        return self.message

    def for_terminal(self) -> str:
        """The one line a command prints on stderr: "iotsim-tui: profile error: ..."."""
        return f"iotsim-tui: {self.title.lower()}: {self.message}"


class ProfileError(IotsimError):
    """A network profile could not be read, validated or written."""

    title = "Profile error"


class ProfileProblem(ProfileError):
    """One invalid value in a profile, located by file, dotted key and line."""

    def __init__(
        self, path: str, key: str, problem: str, *, line: int | None = None, value: object = None
    ) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        self.line = line
        self.value = value
        where = f"{path}:{line}" if line is not None else path
        shown = f"{key} = {_show(value)}" if value is not None else key
        super().__init__(f"{where}: {shown}: {problem}")


class ProfileProblems(ProfileError):
    """Every problem found in one profile, reported together."""

    def __init__(self, problems: list[ProfileProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(p.message for p in problems))


class BrokerError(IotsimError):
    """The bundled broker could not start, or stopped unexpectedly."""

    title = "Broker error"


class ConnectionFailed(IotsimError):
    """A device or the broker console could not reach or stay connected to its broker."""

    title = "Connection failed"


class TLSFailure(ConnectionFailed):
    """A TLS handshake failed; the message names the check that failed."""

    title = "TLS failure"


class CertificateError(IotsimError):
    """Certificates could not be generated, read or written."""

    title = "Certificate error"


class CaptureError(IotsimError):
    """The eavesdrop relay or a pcap file could not be set up or written."""

    title = "Eavesdrop error"


class UsageError(IotsimError):
    """The command line was given something it cannot use."""

    title = "Usage error"
    exit_code = 2


def _show(value: object) -> str:
    """A value as it is written in a TOML profile."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(item) for item in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{key} = {_show(item)}" for key, item in value.items())
        return "{ " + inner + " }" if inner else "{}"
    return str(value)
