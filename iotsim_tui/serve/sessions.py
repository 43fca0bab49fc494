"""The working folder of each served session, and the app command it runs there.

A session's folder holds what the app would write next to the user on their own machine:
`profiles/` (a copy of each profile the server was given, which the session may edit and
save), `certs/` (the certificates it generates, keys 0600) and `state/` (its log). Folders are
private to the server's user (0700) and removed when the session ends, unless kept.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from iotsim_tui.errors import UsageError


@dataclass(frozen=True)
class SessionFolder:
    """One session's working folder, and how its app is started there."""

    name: str
    """Unique among the server's sessions, as in the server's log: "20261206-193512-3fa2c1"."""
    path: Path
    profiles: tuple[Path, ...]
    """The session's own copies of the profiles, relative to `path`."""

    def command(self) -> list[str]:
        """The app, on the session's profiles, with its bundled brokers on free ports.

        `-P`: the session's folder, its working directory, is not put on the module path, so
        no file saved there is ever imported.
        """
        return [sys.executable, "-P", "-m", "iotsim_tui", "--free-ports", *map(str, self.profiles)]

    def environment(self) -> dict[str, str]:
        """What the app's environment adds: its log goes to the session's folder."""
        return {"XDG_STATE_HOME": str(self.path / "state")}


class SessionFolders:
    """Makes and removes the sessions' folders under `data/sessions/`."""

    def __init__(self, data: Path, *, profiles: Sequence[Path] = (), keep: bool = False) -> None:
        self.root = data / "sessions"
        self.profiles = list(profiles)
        """The profiles (absolute paths) each session gets a copy of."""
        self.keep = keep
        """True: a folder stays after its session, for the teacher to look at."""
        names = [path.name for path in self.profiles]
        if len(set(names)) != len(names):
            raise UsageError(f"two profiles have the same file name: {', '.join(names)}")

    def prepare(self) -> None:
        """Make the sessions' folder (0700: their keys are inside); UsageError when it cannot."""
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(self.root, 0o700)
        except OSError as error:
            raise UsageError(f"cannot make the sessions' folder {self.root}: {error}") from None

    def make(self) -> SessionFolder:
        """A new folder, with a copy of each profile in its `profiles/`."""
        self.prepare()
        try:
            name = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(3)
            path = self.root / name
            path.mkdir(mode=0o700)
            (path / "profiles").mkdir()
            copies = []
            for profile in self.profiles:
                copy = Path("profiles") / profile.name
                shutil.copyfile(profile, path / copy)
                copies.append(copy)
        except OSError as error:
            raise UsageError(f"cannot make a session folder under {self.root}: {error}") from None
        return SessionFolder(name, path, tuple(copies))

    def done(self, folder: SessionFolder) -> None:
        """The session ended: remove its folder, unless folders are kept."""
        if not self.keep:
            shutil.rmtree(folder.path, ignore_errors=True)
