"""Atomic, permission-safe file writes for certificates, keys and password files.

A key must never exist on disk, even for a moment, with looser permissions than 0600, and a
crash must never leave half a file behind: each write goes to a temporary file created 0600
in the same folder, is flushed to disk, then renamed over the target.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from iotsim_tui.errors import CertificateError

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600
PUBLIC_FILE_MODE = 0o644


def ensure_private_dir(directory: Path) -> None:
    """Create `directory` (and parents) and make it 0700, whatever the umask."""
    try:
        directory.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
        os.chmod(directory, PRIVATE_DIR_MODE)
    except OSError as error:
        raise CertificateError(
            f"cannot create the folder {directory}: {error.strerror or error}"
        ) from error


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
