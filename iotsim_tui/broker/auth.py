"""The broker's password file: user names and scrypt hashes, one user a line.

    # comments and blank lines are ignored
    sensor-1:scrypt$16384$8$1$<salt, base64>$<hash, base64>

Passwords are never stored, logged or compared as they are: each is hashed with scrypt (a
standard memory-hard KDF, `hashlib.scrypt`) under its own random salt, and hashes are compared
in constant time. Hashing takes tens of milliseconds on purpose: call `verify` off the event
loop (`asyncio.to_thread`) when many clients connect at once.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

from iotsim_tui.certs.files import write_private
from iotsim_tui.errors import BrokerError, CertificateError

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1
"""scrypt cost: 16 MiB of memory and ~50 ms per hash, the common interactive-login setting."""
SALT_BYTES = 16
HASH_BYTES = 32
MAX_N = 2**20
_MAXMEM = 256 * 1024 * 1024
_TITLE = "Password file error"
_FORMAT = f"user:{SCHEME}$N$r$p$salt$hash"


@dataclass(frozen=True)
class PasswordHash:
    """One user's scrypt parameters, salt and derived key."""

    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    @classmethod
    def make(cls, password: str | bytes) -> PasswordHash:
        """Hash `password` under a fresh random salt with the default cost."""
        salt = secrets.token_bytes(SALT_BYTES)
        return cls(N, R, P, salt, _scrypt(_bytes(password), salt, N, R, P, HASH_BYTES))

    def matches(self, password: str | bytes) -> bool:
        """True when `password` hashes to this digest (compared in constant time)."""
        candidate = _scrypt(_bytes(password), self.salt, self.n, self.r, self.p, len(self.digest))
        return hmac.compare_digest(candidate, self.digest)

    def encode(self) -> str:
        """The `scrypt$N$r$p$salt$hash` text of the password file."""
        salt = base64.b64encode(self.salt).decode("ascii")
        digest = base64.b64encode(self.digest).decode("ascii")
        return f"{SCHEME}${self.n}${self.r}${self.p}${salt}${digest}"

    @classmethod
    def decode(cls, text: str) -> PasswordHash:
        """Parse `scrypt$N$r$p$salt$hash`; raise ValueError saying what is wrong."""
        parts = text.split("$")
        if len(parts) != 6 or parts[0] != SCHEME:
            raise ValueError(f"expected {_FORMAT}")
        try:
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            salt = base64.b64decode(parts[4], validate=True)
            digest = base64.b64decode(parts[5], validate=True)
        except (ValueError, binascii.Error):
            raise ValueError(f"expected {_FORMAT} with numbers and base64") from None
        # Bounds keep a hand-edited file from making each login take minutes or gigabytes.
        if not (2 <= n <= MAX_N and n & (n - 1) == 0) or not (1 <= r <= 32 and 1 <= p <= 16):
            raise ValueError(f"scrypt cost out of range (N a power of 2 up to {MAX_N}, r, p)")
        if len(salt) < 8 or len(digest) < 16:
            raise ValueError("salt or hash too short")
        return cls(n, r, p, salt, digest)


class PasswordFile:
    """The users a broker accepts, and their password hashes."""

    def __init__(self, users: dict[str, PasswordHash] | None = None) -> None:
        self._users: dict[str, PasswordHash] = dict(users or {})
        self._decoy: PasswordHash | None = None

    @classmethod
    def load(cls, path: Path) -> PasswordFile:
        """Read a password file.

        Raises:
            BrokerError: The file is missing, unreadable, or a line is malformed
                (`file:line: problem`).
        """
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise BrokerError(
                f"password file {path} does not exist: add a user with "
                f"`iotsim-tui broker passwd {path} USER`",
                title=_TITLE,
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise BrokerError(f"cannot read password file {path}: {error}", title=_TITLE) from None
        users: dict[str, PasswordHash] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            user, colon, encoded = line.partition(":")
            try:
                if not colon:
                    raise ValueError(f"expected {_FORMAT}")
                check_user(user)
                if user in users:
                    raise ValueError(f"user {user!r} appears twice")
                users[user] = PasswordHash.decode(encoded)
            except ValueError as error:
                raise BrokerError(f"{path}:{number}: {error}", title=_TITLE) from None
        return cls(users)

    @property
    def users(self) -> list[str]:
        """The user names, sorted."""
        return sorted(self._users)

    def __contains__(self, user: object) -> bool:
        return user in self._users

    def __len__(self) -> int:
        return len(self._users)

    def verify(self, user: str, password: str | bytes) -> bool:
        """True when `user` exists and `password` is theirs. Takes as long either way."""
        known = self._users.get(user)
        if known is None:
            # Hash anyway, so a wrong name takes as long as a wrong password and the answer
            # does not reveal which names exist.
            if self._decoy is None:
                self._decoy = PasswordHash.make(secrets.token_bytes(SALT_BYTES))
            self._decoy.matches(password)
            return False
        return known.matches(password)

    def set(self, user: str, password: str | bytes) -> None:
        """Add `user`, or change their password.

        Raises:
            BrokerError: The user name cannot be stored, or the password is empty.
        """
        try:
            check_user(user)
        except ValueError as error:
            raise BrokerError(str(error), title=_TITLE) from None
        if not password:
            raise BrokerError("the password is empty", title=_TITLE)
        self._users[user] = PasswordHash.make(password)

    def remove(self, user: str) -> bool:
        """Remove `user`; False when there was no such user."""
        return self._users.pop(user, None) is not None

    def dumps(self) -> str:
        """The file's text: one `user:hash` line per user, sorted by name."""
        return "".join(f"{user}:{self._users[user].encode()}\n" for user in self.users)

    def save(self, path: Path) -> None:
        """Write the file atomically, mode 0600.

        Raises:
            BrokerError: It cannot be written.
        """
        try:
            write_private(path, self.dumps().encode("utf-8"))
        except CertificateError as error:
            raise BrokerError(error.message, title=_TITLE) from None


def add_user(path: Path, user: str, password: str | bytes) -> bool:
    """Add `user` to the password file at `path` (created when missing) or change their password.

    Returns:
        True when the user was new, False when an existing password was replaced.
    """
    passwords = PasswordFile.load(path) if path.exists() else PasswordFile()
    new = user not in passwords
    passwords.set(user, password)
    passwords.save(path)
    return new


def check_user(user: str) -> None:
    """Raise ValueError unless `user` can be a line's name: no colon, control or empty."""
    if not user:
        raise ValueError("the user name is empty")
    if ":" in user or any(ord(c) < 32 or ord(c) == 127 for c in user):
        raise ValueError(f"user name {user!r} contains a colon or a control character")
    if user != user.strip():
        raise ValueError(f"user name {user!r} starts or ends with a space")
    if any(0xD800 <= ord(c) <= 0xDFFF for c in user) or len(user.encode("utf-8")) > 65_535:
        raise ValueError("the user name is not a valid MQTT string")


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=length)


def _bytes(password: str | bytes) -> bytes:
    return password.encode("utf-8") if isinstance(password, str) else password
