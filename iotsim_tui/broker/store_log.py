"""The broker's data file: an append-only log of batches, rewritten whole when it grows.

    broker.state
      header   b"iotsim-broker-state 1\\n"
      batch    length (4 bytes) | CRC-32 of the body (4 bytes) | body
      batch    ...

A body is a list of records (tuples of str, bytes, int, float, bool, None), pickled and read
back by an unpickler that refuses every class, so a doctored file cannot run code. A batch is
all or nothing: one whose length, checksum or contents do not hold marks the end of what can
be read. Whatever follows it is kept aside under a new name, never deleted.

Appends and rewrites run on one writer thread (`os.write` and `os.fsync` release the GIL).
"""

from __future__ import annotations

import fcntl
import io
import os
import pickle
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iotsim_tui.errors import BrokerError

HEADER = b"iotsim-broker-state 1\n"
FILE_NAME = "broker.state"
LOCK_NAME = "broker.lock"
_FRAME = 8
_MAX_BATCH = 1 << 30

Record = tuple[Any, ...]


class _RecordsOnly(pickle.Unpickler):
    """Reads tuples, lists and plain values; any class or function in the data is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"a class ({module}.{name}) in the data file")


@dataclass(frozen=True, slots=True)
class Damage:
    """Where a data file stopped being readable, and where the unreadable file went."""

    path: Path
    offset: int
    size: int
    kept_as: Path
    why: str

    def describe(self) -> str:
        """The problem in plain words, for the log."""
        return (
            f"the broker's data file {self.path} is damaged from byte {self.offset} of "
            f"{self.size} ({self.why}; a crash or a full disk while writing can do this): "
            f"started with everything before that point; the file as it was is kept as "
            f"{self.kept_as}"
        )


def encode_batch(records: list[Record]) -> bytes:
    """One batch as it is written to the file."""
    body = pickle.dumps(records, protocol=5)
    return len(body).to_bytes(4, "big") + zlib.crc32(body).to_bytes(4, "big") + body


def read_batches(data: bytes) -> Iterator[tuple[int, list[Record] | str]]:
    """(offset, records) for each good batch; the last item is (offset, why) if one is bad."""
    if not data.startswith(HEADER):
        yield 0, "it does not start like a broker data file"
        return
    position = len(HEADER)
    end = len(data)
    while position < end:
        if end - position < _FRAME:
            yield position, "the last batch is cut short"
            return
        length = int.from_bytes(data[position : position + 4], "big")
        checksum = int.from_bytes(data[position + 4 : position + 8], "big")
        body = data[position + _FRAME : position + _FRAME + length]
        if length > _MAX_BATCH or len(body) < length:
            yield position, "the last batch is cut short"
            return
        if zlib.crc32(body) != checksum:
            yield position, "a batch does not match its checksum"
            return
        try:
            records = _RecordsOnly(io.BytesIO(body)).load()
        except Exception:  # any unreadable pickle: bad data, whatever the error
            yield position, "a batch cannot be read"
            return
        if not isinstance(records, list):
            yield position, "a batch is not a list of records"
            return
        yield position, records
        position += _FRAME + length


def keep_aside(path: Path) -> Path:
    """Rename a damaged file to `NAME.damaged-YYYYmmdd-HHMMSS[-n]` next to it; return the name."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    count = 1
    while target.exists():
        count += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{count}")
    path.rename(target)
    return target


class LogFile:
    """The open data file: appends with fsync, and atomic rewrites (compaction)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / FILE_NAME
        self.size = 0
        self._fd = -1
        self._lock = -1

    def lock(self) -> None:
        """Make the folder this broker's alone (two brokers appending would mix their batches).

        Raises BrokerError when another broker holds it. The lock ends with the process, however
        it ends, so a killed broker never leaves it behind.
        """
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.folder / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise BrokerError(
                f"the data folder {self.folder} is in use by another broker: give this one "
                "another folder (--data DIR)"
            ) from None
        self._lock = fd

    def read(self) -> bytes:
        """The file's bytes; empty when there is none yet."""
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""

    def open(self) -> None:
        """Open for appending, writing the header to a new file."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self.size = os.fstat(self._fd).st_size
        if self.size == 0:
            self.append(HEADER)

    def append(self, data: bytes) -> None:
        """Write `data` at the end and wait until it is on disk."""
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fsync(self._fd)
        self.size += len(data)

    def rewrite(self, batches: list[bytes]) -> None:
        """Replace the file with `batches` (header first): temp file, fsync, rename, fsync dir."""
        temporary = self.path.with_name(self.path.name + ".new")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            size = 0
            for data in (HEADER, *batches):
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
                size += len(data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, self.path)
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        self.size = size

    def close(self) -> None:
        """Close the file (everything appended is on disk already)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock >= 0:
            os.close(self._lock)  # and with it the lock
            self._lock = -1
