"""Atomic, permission-safe file writes for certificates, keys and password files.

A key must never exist on disk, even for a moment, with looser permissions than 0600, and a
crash must never leave half a file behind: each write goes to a temporary file created 0600
in the same folder, is flushed to disk, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from iotsim_tui.errors import CertificateError

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
PUBLIC_FILE_MODE = 0o644


def ensure_private_dir(directory: Path) -> None:
    """Create `directory` 0700 (and missing parents), or check the one that is there.

    A folder that exists keeps its mode (a shared folder keeps its sticky bit, `--dir .` does
    not lock the current folder); one that others can write into is refused, because they
    could replace a key or a certificate with their own.

    Raises:
        CertificateError: it cannot be created, is not a folder, or others can write into it.
    """
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    try:
        for folder in reversed(missing):
            folder.mkdir(mode=PRIVATE_DIR_MODE)
            os.chmod(folder, PRIVATE_DIR_MODE)  # whatever the umask
    except FileExistsError:
        pass  # made meanwhile: checked below like any folder that was there
    except OSError as error:
        raise CertificateError(
            f"cannot create the folder {directory}: {error.strerror or error}"
        ) from error
    try:
        info = directory.stat()
    except OSError as error:
        raise CertificateError(f"cannot use the folder {directory}: {error.strerror}") from error
    if not stat.S_ISDIR(info.st_mode):
        raise CertificateError(f"{directory} is not a folder")
    writable = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if writable and directory not in missing:
        who = "anyone" if info.st_mode & stat.S_IWOTH else "its group"
        raise CertificateError(
            f"{directory} is not a safe place for keys: {who} can write into it (mode "
            f"{stat.S_IMODE(info.st_mode):o}), and could replace a key or certificate with "
            "their own; use a folder of your own (the default is certs/), or chmod go-w it"
        )


def write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Write `data` to `path` atomically with permissions `mode` (umask ignored)."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        # The file is born 0600 so a key is never readable by others, even before fchmod.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        _fsync_dir(path.parent)
    except OSError as error:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise CertificateError(f"cannot write {path}: {error.strerror or error}") from error


def write_private(path: Path, data: bytes) -> None:
    """Write a secret (a private key, a password file) atomically, mode 0600."""
    write_atomic(path, data, mode=PRIVATE_FILE_MODE)


def write_public(path: Path, data: bytes) -> None:
    """Write a certificate atomically, mode 0644."""
    write_atomic(path, data, mode=PUBLIC_FILE_MODE)


def read_bytes(path: Path, *, what: str) -> bytes:
    """Read a file, or raise CertificateError naming it and saying what it should hold."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CertificateError(f"{what} {path} does not exist") from None
    except IsADirectoryError:
        raise CertificateError(f"{what} {path} is a folder, not a file") from None
    except OSError as error:
        raise CertificateError(f"cannot read {what} {path}: {error.strerror or error}") from error


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the folder entry is on disk.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
