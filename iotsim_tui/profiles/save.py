"""Writing network profiles: a `Network` -> short TOML, saved atomically.

Only values that differ from the defaults are written, so a saved profile reads like one
written by hand. Saving never leaves a half-written file: the text goes to a temporary file
in the same folder, is flushed to disk, and then replaces the target in one rename.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from iotsim_tui.errors import ProfileError
from iotsim_tui.profiles.document import network_document
from iotsim_tui.profiles.layout import render
from iotsim_tui.profiles.load import load_network, parse_network
from iotsim_tui.profiles.model import Network

PRIVATE_MODE = 0o600
"""New profiles that hold a password are readable by their owner only."""
DEFAULT_UMASK = 0o022


def dumps_network(network: Network) -> str:
    """The TOML text of a network profile, leaving out every default value."""
    try:
        return render(network_document(network))
    except (TypeError, ValueError) as error:
        raise ProfileError(f"the network cannot be written as TOML: {error}") from None


def save_network(network: Network, path: Path, *, overwrite_broken: bool = False) -> None:
    """Write `network` to `path` atomically.

    A file at `path` that is not a valid profile is left alone (it may hold hand edits that
    a fix would recover) unless `overwrite_broken` is set. An existing file keeps its
    permissions; a new one that holds a password is made readable by its owner only.

    Raises:
        ProfileError: the file is broken and `overwrite_broken` is not set, or it cannot be
            written; the file at `path`, if any, is then unchanged.
    """
    text = dumps_network(network)
    try:
        parse_network(text, str(path))
    except ProfileError as error:
        raise ProfileError(
            f"{path}: not saved, because the network is not valid:\n{error.message}",
            title="Not saved",
        ) from None
    if not overwrite_broken and path.exists():
        try:
            load_network(path)
        except ProfileError as error:
            raise ProfileError(
                f"{path}: not saved, because the file there is not a valid profile and would "
                f"be lost ({error.message.splitlines()[0]}); fix it or save under another name",
                title="Not saved",
            ) from None
    # A profile that is a symbolic link is saved where it points, and stays a link.
    target = path.resolve() if path.is_symlink() else path
    new_mode = PRIVATE_MODE if network.broker.password is not None else None
    try:
        _write_atomically(target, text, new_mode)
    except OSError as error:
        raise ProfileError(f"{path}: cannot be written: {error.strerror or error}") from None


def _write_atomically(path: Path, text: str, new_mode: int | None) -> None:
    """Replace `path` with `text` in one rename; a new file gets `new_mode` (None: umask)."""
    folder = path.parent
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        with contextlib.suppress(OSError):
            os.chmod(temporary, _mode_of(path, new_mode))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_folder(folder)


def _mode_of(path: Path, new_mode: int | None) -> int:
    """The permissions of the file being replaced, else `new_mode`, else 0666 less the umask."""
    try:
        return path.stat().st_mode & 0o777
    except OSError:
        return new_mode if new_mode is not None else 0o666 & ~_umask()


def _umask() -> int:
    # os.umask can only be read by setting it, which would race with other threads creating
    # files; Linux shows it in /proc instead.
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii")
    except OSError:
        return DEFAULT_UMASK
    for line in status.splitlines():
        if line.startswith("Umask:"):
            return int(line.split()[1], 8)
    return DEFAULT_UMASK


def _fsync_folder(folder: Path) -> None:
    # The rename itself is only durable once the folder's entry is on disk.
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(descriptor)
    finally:
        os.close(descriptor)
