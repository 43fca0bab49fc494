"""Choosing files: open a profile, save a profile as, pick a certificate or key file.

Each picker has a path field that completes names as you type (Right arrow accepts) and a
folder tree that shows only the files that fit; Enter on a file in the tree chooses it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from itertools import islice
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.suggester import Suggester
from textual.widgets import DirectoryTree, Input

from iotsim_tui.errors import ProfileError
from iotsim_tui.tui.screens._form import FormDialog, field
from iotsim_tui.tui.screens.confirm import ConfirmScreen

PROFILE_SUFFIXES = (".toml",)
CERTIFICATE_SUFFIXES = (".crt", ".pem", ".cer")
KEY_SUFFIXES = (".key", ".pem")
_MAX_ENTRIES = 2_000
"""Folder entries looked at per completion, so a huge folder cannot stall typing."""


def shown_path(path: Path) -> str:
    """`path` as the user should see and store it: relative to the working folder when inside."""
    expanded = path.expanduser()
    if expanded.is_absolute():
        try:
            return str(expanded.relative_to(Path.cwd()))
        except ValueError:
            return str(expanded)
    return str(path)


def _fits(path: Path, suffixes: tuple[str, ...]) -> bool:
    return not suffixes or path.suffix.lower() in suffixes


class PathSuggester(Suggester):
    """Completes the last part of a typed path from what is on disk."""

    def __init__(self, suffixes: tuple[str, ...] = ()) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.suffixes = suffixes

    async def get_suggestion(self, value: str) -> str | None:
        """The first folder or fitting file whose name starts with what was typed."""
        # One bounded folder listing: quick enough to run between two keypresses.
        return complete_path(value, self.suffixes)


def complete_path(value: str, suffixes: tuple[str, ...] = ()) -> str | None:
    """`value` completed to the first folder (with a final `/`) or fitting file it starts."""
    folder_text, slash, start = value.rpartition("/")
    folder = Path(folder_text or "/").expanduser() if slash else Path(".")
    try:
        with os.scandir(folder) as scan:
            entries = sorted(islice(scan, _MAX_ENTRIES), key=lambda e: e.name)
    except OSError:
        return None
    for entry in entries:
        if not entry.name.startswith(start) or entry.name == start:
            continue
        if entry.name.startswith(".") and not start.startswith("."):
            continue
        is_dir = entry.is_dir()
        if is_dir or _fits(Path(entry.name), suffixes):
            return value[: len(value) - len(start)] + entry.name + ("/" if is_dir else "")
    return None


class FileTree(DirectoryTree):
    """A folder tree that hides dot files and shows only files with the wanted suffixes."""

    def __init__(self, path: Path, *, suffixes: tuple[str, ...], id: str | None = None) -> None:
        super().__init__(path, id=id)
        self.suffixes = suffixes

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        """Folders, and the files that fit."""
        return [
            path
            for path in paths
            if not path.name.startswith(".") and (path.is_dir() or _fits(path, self.suffixes))
        ]


SHOWN_PROBLEMS = 5
"""Problems of a broken profile listed in the open dialog; `validate` lists them all."""


def _broken_profile(path: Path) -> str | None:
    """Why the file at `path` is not a valid profile (its first problem); None when it is."""
    from iotsim_tui.profiles.load import load_network

    try:
        load_network(path)
    except ProfileError as error:
        return error.message.splitlines()[0]
    return None


def _tree_root(start: Path) -> Path:
    folder = start if start.is_dir() else start.parent
    return folder if folder.is_dir() else Path(".")


class PathDialog(FormDialog[Path]):
    """A path field that completes names, over a folder tree showing only the files that fit.

    `PickFileScreen` chooses a file that exists, `SaveFileScreen` a file to write.
    """

    ask_before_discarding = False

    AUTO_FOCUS = "#path"

    DEFAULT_CSS = """
    PathDialog #tree {
        height: 12;
        margin-top: 1;
        border: round $border-blurred;
    }
    PathDialog #tree:focus {
        border: round $border;
    }
    """

    label = "Path"

    def __init__(self, start: Path, *, suffixes: tuple[str, ...], value: str) -> None:
        super().__init__()
        self.start = start
        self.suffixes = suffixes
        self.value = value

    def compose_fields(self) -> ComposeResult:
        """The path field and the folder tree."""
        wanted = ", ".join(self.suffixes) or "any file"
        yield field(
            self.label,
            Input(
                self.value,
                placeholder=f"type a path ({wanted}); Right arrow completes",
                suggester=PathSuggester(self.suffixes),
                id="path",
                compact=True,
            ),
        )
        yield FileTree(_tree_root(self.start), suffixes=self.suffixes, id="tree")

    @property
    def typed(self) -> str:
        """What the path field holds, without surrounding spaces."""
        return self.query_one("#path", Input).value.strip()


class PickFileScreen(PathDialog):
    """Choose an existing file: type its path or pick it in the tree."""

    heading = "Choose a file"
    submit_label = "Choose"

    def __init__(
        self,
        start: Path = Path("."),
        *,
        suffixes: tuple[str, ...] = (),
        heading: str | None = None,
        value: str = "",
    ) -> None:
        super().__init__(start, suffixes=suffixes, value=value)
        if heading is not None:
            self.heading = heading

    def build(self, errors: dict[str, str]) -> Path | None:
        """The chosen path, if it is a file that fits."""
        text = self.typed
        if not text:
            errors["path"] = "type a path or pick a file in the tree"
            return None
        path = Path(text).expanduser()
        if path.is_dir():
            errors["path"] = f"{text} is a folder: pick a file in it"
        elif not path.is_file():
            errors["path"] = f"there is no file {text}"
        elif not _fits(path, self.suffixes):
            errors["path"] = f"{text} is not a {' or '.join(self.suffixes)} file"
        return Path(shown_path(path))

    @on(DirectoryTree.FileSelected)
    def _file_chosen(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        self.query_one("#path", Input).value = shown_path(event.path)
        self.action_submit()

    @on(DirectoryTree.DirectorySelected)
    def _folder_chosen(self, event: DirectoryTree.DirectorySelected) -> None:
        event.stop()
        self.query_one("#path", Input).value = shown_path(event.path) + "/"


class OpenProfileScreen(PickFileScreen):
    """Open a network profile (a .toml file)."""

    heading = "Open a network profile"
    submit_label = "Open"

    def __init__(self, start: Path = Path("profiles")) -> None:
        super().__init__(start, suffixes=PROFILE_SUFFIXES)

    def build(self, errors: dict[str, str]) -> Path | None:
        """The chosen profile, if it loads: a broken one's problems are shown here, in the
        dialog, rather than in a notification that would stay over the next dialogs."""
        path = super().build(errors)
        if path is None or errors:
            return path
        from iotsim_tui.profiles.load import load_network

        try:
            load_network(path)
        except ProfileError as error:
            lines = error.message.splitlines()
            shown = lines[:SHOWN_PROBLEMS]
            if len(lines) > SHOWN_PROBLEMS:
                shown.append(f"and {len(lines) - SHOWN_PROBLEMS} more (iotsim-tui validate)")
            errors["path"] = "\n".join(shown)
        return path


class SaveFileScreen(PathDialog):
    """Choose a file to write, adding the first suffix when the name has none, and asking
    before replacing an existing file. Picking a file in the tree fills the field; picking a
    folder keeps the typed name in that folder."""

    label = "Save to"
    submit_label = "Save"

    def __init__(self, default: Path, *, suffixes: tuple[str, ...]) -> None:
        super().__init__(default, suffixes=suffixes, value=shown_path(default))
        self.default = default

    def build(self, errors: dict[str, str]) -> Path | None:
        """The target path, if its folder exists (or can be made) and it is not a folder."""
        text = self.typed
        if not text or text.endswith("/"):
            errors["path"] = f"type a file name, e.g. {shown_path(self.default)}"
            return None
        path = Path(text).expanduser()
        if not path.suffix and self.suffixes:
            path = path.with_suffix(self.suffixes[0])
        if path.is_dir():
            errors["path"] = f"{text} is a folder: add a file name"
        elif not self.folder_may_be_missing and not path.parent.is_dir():
            errors["path"] = f"the folder {shown_path(path.parent)} does not exist"
        elif path.exists():
            broken = _broken_profile(path)
            if broken is not None:  # said now, not after "Replace it?"
                errors["path"] = (
                    f"{shown_path(path)} is not a valid profile ({broken}): it is not replaced, "
                    "so nothing in it is lost; save under another name"
                )
        return Path(shown_path(path))

    folder_may_be_missing = False
    """True when whoever writes the file makes its folder."""

    def finish(self, result: Path | None) -> None:
        """Ask before replacing an existing file."""
        if result is None or not result.exists():
            self.dismiss(result)
            return

        def replace(answer: bool | None) -> None:
            if answer:
                self.dismiss(result)
            else:
                self.query_one("#path", Input).focus()

        self.app.push_screen(ConfirmScreen(f"{result} exists. Replace it?", yes="Replace"), replace)

    @on(DirectoryTree.FileSelected)
    def _file_chosen(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        path_input = self.query_one("#path", Input)
        path_input.value = shown_path(event.path)
        path_input.focus()

    @on(DirectoryTree.DirectorySelected)
    def _folder_chosen(self, event: DirectoryTree.DirectorySelected) -> None:
        event.stop()
        path_input = self.query_one("#path", Input)
        name = Path(path_input.value).name or self.default.name
        path_input.value = shown_path(event.path / name)
        path_input.focus()


class SaveAsScreen(SaveFileScreen):
    """Choose where to save a profile."""

    heading = "Save the network as"
    intro = "The profile is written as TOML; .toml is added when the name has no suffix."

    def __init__(self, default: Path) -> None:
        super().__init__(default, suffixes=PROFILE_SUFFIXES)


CAPTURES = Path("captures")
"""Where captures go unless the user says otherwise."""
CAPTURE_SUFFIXES = (".pcap",)


def default_capture_path(network: str, now: float | None = None) -> Path:
    """captures/<network>-<time>.pcap, with the name made safe for a file name."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", network).strip("._") or "network"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return CAPTURES / f"{safe}-{stamp}.pcap"


class CapturePathScreen(SaveFileScreen):
    """Where to write what the eavesdrop view captured."""

    heading = "Save the capture"
    intro = "A pcap file: Wireshark and tshark open it. Its folder is made if it is missing."
    folder_may_be_missing = True

    def __init__(self, default: Path) -> None:
        super().__init__(default, suffixes=CAPTURE_SUFFIXES)
