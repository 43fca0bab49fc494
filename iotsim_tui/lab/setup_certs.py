"""The certificates the TLS lessons need, made on the spot in a folder of their own.

`LessonCerts` makes each set the first time a lesson asks for it, so a lesson costs only the
keys it uses, and a test session can make them all once and share them. Nothing is ever
written into the repository: the folder is a temporary one unless the caller gives one.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from iotsim_tui.certs.authority import DEFAULT_HOSTS, ClientCert, init_certs, issue_client
from iotsim_tui.certs.variants import issue_expired_server, issue_other_host_server
from iotsim_tui.errors import CertificateError, IotsimError

TRUSTED = "trusted"
"""The CA the device trusts, the broker's good certificate, and the device's client certificate."""
OTHER_CA = "other-ca"
"""Another CA, with a broker certificate and a client certificate of its own (an impostor's)."""
EXPIRED = "expired"
OTHER_HOST = "other-host"


class LessonSetupError(IotsimError):
    """A lesson could not set up its case (certificates, broker, relay); nothing was left."""

    title = "Lesson could not start"


class LessonCerts:
    """Certificate folders for the lessons under one folder, each made when first needed.

    Args:
        directory: Where the folders go; made 0700 when missing.
        client_id: The device's MQTT client id, named in its client certificates.
        hosts: The names the good broker certificate is for (the profile's host among them).
    """

    def __init__(self, directory: Path, client_id: str, hosts: tuple[str, ...] = ()) -> None:
        self.directory = directory
        self.client_id = client_id
        self.hosts = tuple(dict.fromkeys((*DEFAULT_HOSTS, *hosts)))

    def trusted(self) -> Path:
        """The folder of the CA the device trusts and the broker's good certificate."""
        return self._authority(TRUSTED)

    def other_ca(self) -> Path:
        """A folder of another CA, with a broker certificate for the right host names."""
        return self._authority(OTHER_CA)

    def client(self) -> ClientCert:
        """The device's client certificate, from the trusted CA."""
        return self._client(TRUSTED)

    def foreign_client(self) -> ClientCert:
        """A client certificate for the device from the other CA."""
        return self._client(OTHER_CA)

    def expired(self) -> Path:
        """A broker folder whose certificate, from the trusted CA, expired yesterday."""
        folder = self.directory / EXPIRED
        if not (folder / "server.crt").exists():
            _made(lambda: issue_expired_server(self.trusted(), folder, hosts=self.hosts))
        return folder

    def other_host(self) -> Path:
        """A broker folder whose certificate, from the trusted CA, names another host only."""
        folder = self.directory / OTHER_HOST
        if not (folder / "server.crt").exists():
            _made(lambda: issue_other_host_server(self.trusted(), folder))
        return folder

    def make_all(self) -> None:
        """Make every set now (a test session shares them between lessons)."""
        self.client()
        self.foreign_client()
        self.expired()
        self.other_host()

    def _authority(self, name: str) -> Path:
        folder = self.directory / name
        if not (folder / "server.crt").exists():
            _made(lambda: init_certs(folder, hosts=self.hosts, days=30, force=True))
        return folder

    def _client(self, name: str) -> ClientCert:
        folder = self._authority(name)
        made = ClientCert.at(folder, self.client_id)
        if not made.cert.exists():
            _made(lambda: issue_client(folder, self.client_id, days=30, force=True))
        return made


def _made(make: Callable[[], object]) -> None:
    try:
        make()
    except CertificateError as error:
        raise LessonSetupError(
            f"cannot make the lesson's certificates: {error.message}",
        ) from None


def make_temporary_folder(parent: Path | None) -> Path:
    """A new private folder for one lesson's certificates (under `parent`, or the system's
    temporary folder); raises LessonSetupError naming the folder when it cannot be made."""
    try:
        return Path(tempfile.mkdtemp(prefix="iotsim-lesson-", dir=parent))
    except OSError as error:
        where = parent if parent is not None else Path(tempfile.gettempdir())
        raise LessonSetupError(
            f"cannot make the lesson's certificates folder in {where}: {error.strerror or error}"
        ) from None


def remove_folder(folder: Path) -> None:
    """Remove a lesson's certificates folder and every key in it."""
    shutil.rmtree(folder, ignore_errors=True)
