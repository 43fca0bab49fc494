"""Who gets in: CONNECT checks, passwords, identity from client certificates, and the ACL.

The password file and the ACL are read at start and again on `reload` (SIGHUP). Password
checks run within the bounds of `limits.LoginGuard`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from iotsim_tui.broker.limits import LoginGuard, LoginRefused
from iotsim_tui.errors import BrokerError
from iotsim_tui.protocol.packets import Connect
from iotsim_tui.protocol.reasons import ReasonCode

if TYPE_CHECKING:
    from iotsim_tui.broker.acl import AccessControl, ClientAccess
    from iotsim_tui.broker.auth import PasswordFile
    from iotsim_tui.broker.connection import Connection
    from iotsim_tui.broker.server import Broker
    from iotsim_tui.broker.sessions import Session

log = logging.getLogger("iotsim_tui.broker")


class Gate:
    """The broker's checks on who connects and what the ACL lets them do."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        config = broker.config
        self.passwords: PasswordFile | None = None
        self.acl: AccessControl | None = None
        self.logins = LoginGuard(config.failed_login_delay, config.failed_login_delay_max)
        self._tasks: set[asyncio.Task[None]] = set()

    def load(self) -> None:
        """Read the password file and the ACL (raises BrokerError saying what is wrong)."""
        config = self.broker.config
        passwords = acl = None
        if config.password_file is not None:
            from iotsim_tui.broker.auth import PasswordFile

            passwords = PasswordFile.load(config.password_file)
        if config.acl_file is not None:
            from iotsim_tui.broker.acl import AccessControl

            acl = AccessControl.load(config.acl_file)
        self.passwords, self.acl = passwords, acl  # both or neither

    def reload(self) -> None:
        """Read the password file and the ACL again (SIGHUP, as mosquitto does).

        Connected clients keep their connection; the new rules apply to what they do next.
        A file that no longer reads is reported and the rules in force stay.
        """
        try:
            self.load()
        except BrokerError as error:
            log.error("reload failed, the previous rules stay: %s", error.message)
            return
        acl = self.acl
        if acl is not None:
            for session in self.broker.sessions.values():
                if session.access is not None:
                    session.access = acl.client(session.client_id, session.access.username)
        log.info("reloaded the password file and the ACL")

    def close(self) -> None:
        """Cancel password checks under way (the broker stops)."""
        for task in list(self._tasks):
            task.cancel()
        self.logins.close()

    def access(self, client_id: str, username: str | None) -> ClientAccess | None:
        """What the ACL lets this client do; None when there is no ACL."""
        return None if self.acl is None else self.acl.client(client_id, username)

    def set_access(self, session: Session, username: str | None) -> None:
        """Give a session its client's rules; queued messages it may no longer read are dropped.

        A persistent session may come back under another user name: what was queued for the
        first one is checked again, as mosquitto does.
        """
        access = session.access = self.access(session.client_id, username)
        if access is None or not session.queued:
            return
        queued = [session.dequeue() for _ in range(len(session.queue))]
        for delivery in queued:
            if access.can_read(delivery.message.topic):
                session.enqueue(delivery)

    def may_write(self, client_id: str, username: str | None, topic: str) -> bool:
        """True when the client may publish to `topic` (a will's topic, at CONNECT)."""
        if self.acl is None or self.acl.client(client_id, username).can_write(topic):
            return True
        log.info("will of %s to %r dropped: the ACL does not let it write there", client_id, topic)
        return False

    def connect(self, connection: Connection, packet: Connect) -> None:
        """Check a CONNECT; check the password off the loop when there is one; then accept."""
        version = int(packet.protocol_level)
        connection.version = version
        properties = packet.properties
        config = self.broker.config
        if version == 5 and properties.authentication_method is not None:
            connection.refuse(ReasonCode.BAD_AUTHENTICATION_METHOD, "no extended authentication")
            return
        if not packet.client_id and version != 5 and not packet.clean_start:
            connection.refuse(
                ReasonCode.CLIENT_IDENTIFIER_NOT_VALID, "empty client id with a persistent session"
            )
            return
        if (  # as mosquitto does: 3.1.1 has no Server Keep Alive to lower it with
            version != 5
            and 0 < config.max_keepalive < 65_535
            and not 0 < packet.keepalive <= config.max_keepalive
        ):
            connection.refuse(
                ReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
                f"keepalive {packet.keepalive} is not within max_keepalive {config.max_keepalive}",
            )
            return
        if config.use_identity_as_username and connection.listener.context is not None:
            packet = self._identity(connection, packet)
            if connection.closing:
                return
            self.broker.accept(connection, packet)
            return
        if packet.username is None and not config.allow_anonymous:
            connection.refuse(ReasonCode.NOT_AUTHORIZED, "anonymous clients are not allowed")
            return
        if packet.username is not None and self.passwords is not None:
            connection.hold()
            task = asyncio.create_task(self._check_password(connection, packet))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self.broker.accept(connection, packet)

    def _identity(self, connection: Connection, packet: Connect) -> Connect:
        """The CONNECT with the client certificate's CN as its user name (and no password)."""
        name = connection.certificate_name
        if name is None:
            connection.refuse(ReasonCode.NOT_AUTHORIZED, "no common name in its certificate")
            return packet
        if self.broker.config.clientid_must_match_identity and packet.client_id != name:
            connection.refuse(
                ReasonCode.CLIENT_IDENTIFIER_NOT_VALID,
                f"client id {packet.client_id!r} is not its certificate's name {name!r}",
            )
            return packet
        return replace(packet, username=name, password=None)

    async def _check_password(self, connection: Connection, packet: Connect) -> None:
        passwords = self.passwords
        assert passwords is not None
        username = packet.username
        assert username is not None
        password = packet.password or b""
        try:
            good = await self.logins.check(
                connection.host, lambda: passwords.verify(username, password)
            )
        except LoginRefused:
            if not connection.closing:
                connection.refuse(
                    ReasonCode.SERVER_BUSY, f"too many logins waiting, user {username!r}"
                )
            return
        if connection.closing:
            return
        if not good:
            connection.refuse(
                ReasonCode.BAD_USER_NAME_OR_PASSWORD, f"wrong password for user {username!r}"
            )
            return
        self.broker.accept(connection, packet)
        connection.release()
