"""`iotsim-tui broker`: run the bundled broker, or `iotsim-tui broker passwd FILE USER`.

When every listener is up the broker writes one line per listener to stderr,
`ready: plain 127.0.0.1:1883` / `ready: tls 127.0.0.1:8883`, which the app waits for.
SIGINT and SIGTERM stop it cleanly with exit code 0; a port in use exits with 3.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from iotsim_tui import event_loop
from iotsim_tui.broker.config import (
    LOG_LEVELS,
    PERSISTENCE_MODES,
    TLS_VERSIONS,
    BrokerConfig,
    build_config,
    load_config_file,
)
from iotsim_tui.errors import BrokerError, IotsimError, UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The broker's options, and the `passwd` command that manages a password file instead."""
    parser.usage = "%(prog)s [options]\n       %(prog)s passwd FILE USER [--password-stdin]"
    parser.epilog = "iotsim-tui broker passwd --help: how to add users to a password file"
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="TOML file with a [broker] table"
    )
    parser.add_argument("--bind", metavar="HOST", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="plain MQTT port (default 1883; 0 picks one)")
    parser.add_argument("--no-plain", action="store_true", help="no plain listener, TLS only")
    parser.add_argument(
        "--tls-port", type=int, metavar="PORT", help="TLS listener port (needs --certs)"
    )
    parser.add_argument("--certs", type=Path, metavar="DIR", help="folder with ca.crt, server.*")
    parser.add_argument(
        "--require-client-cert",
        action="store_true",
        default=None,
        help="TLS clients must present a certificate signed by ca.crt",
    )
    parser.add_argument(
        "--tls-version",
        choices=TLS_VERSIONS,
        help="the only TLS version the TLS listener speaks (default: 1.2 and 1.3)",
    )
    parser.add_argument(
        "--password-file",
        type=Path,
        metavar="FILE",
        help="users and scrypt hashes, as written by `passwd`",
    )
    parser.add_argument(
        "--acl-file",
        type=Path,
        metavar="FILE",
        help="access control list in mosquitto's format (user, topic, pattern lines)",
    )
    parser.add_argument(
        "--no-anonymous",
        dest="allow_anonymous",
        action="store_false",
        default=None,
        help="refuse clients that give no user name",
    )
    parser.add_argument("--max-packet-size", type=int, metavar="N", help="largest packet accepted")
    parser.add_argument("--log-level", choices=LOG_LEVELS, help="default info")
    parser.add_argument(
        "--persistence",
        choices=PERSISTENCE_MODES,
        help="keep sessions and retained messages on disk: every autosave_interval "
        "(periodic), or before each acknowledgement (sync); default off, periodic with --data",
    )
    parser.add_argument(
        "--data", type=Path, metavar="DIR", help="the folder for the broker's data file"
    )
    commands = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    passwd = commands.add_parser(
        "passwd",
        prog=f"{parser.prog} passwd",
        help="add a user to a password file, or change a user's password",
        description="Add a user to the broker's password file (created 0600 when missing), or "
        "change their password. Asks twice on the terminal, without echo.",
    )
    passwd.add_argument("password_file", type=Path, metavar="FILE", help="the password file")
    passwd.add_argument("user", metavar="USER", help="the user name")
    passwd.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin instead",
    )


def main(argv: Sequence[str]) -> int:
    """`iotsim-tui broker ...` on its own: the supervised broker process runs this."""
    parser = argparse.ArgumentParser(prog="iotsim-tui broker")
    add_arguments(parser)
    try:
        return run(parser.parse_args(argv))
    except IotsimError as error:
        print(error.for_terminal(), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130


def run(args: argparse.Namespace) -> int:
    """Run the broker until a signal, or run `passwd`; return the exit code."""
    if args.command == "passwd":
        return _passwd(args)
    config = _config(args)
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    return event_loop.run(_serve(config))


def _config(args: argparse.Namespace) -> BrokerConfig:
    settings: dict[str, Any] = load_config_file(args.config) if args.config else {}
    overrides: dict[str, Any] = {
        "bind": args.bind,
        "port": args.port,
        "tls_port": args.tls_port,
        "certs": args.certs,
        "require_client_cert": args.require_client_cert,
        "tls_version": args.tls_version,
        "password_file": args.password_file,
        "acl_file": args.acl_file,
        "allow_anonymous": args.allow_anonymous,
        "max_packet_size": args.max_packet_size,
        "log_level": args.log_level,
        "persistence": args.persistence,
        "persistence_location": args.data,
    }
    if args.data is not None and args.persistence is None and "persistence" not in settings:
        overrides["persistence"] = "periodic"
    if args.no_plain:
        settings["port"] = None
        overrides["port"] = None
    return build_config(settings, overrides)


async def _serve(config: BrokerConfig) -> int:
    from iotsim_tui.broker.server import Broker

    broker = Broker(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Before the listeners open: a supervisor that sees the first port open may stop the
    # broker while it still opens the next one, and that must be a clean stop too.
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await broker.start()
    loop.add_signal_handler(signal.SIGHUP, broker.reload)
    for name, port in broker.ports.items():
        print(f"ready: {name} {config.bind}:{port}", file=sys.stderr, flush=True)
    try:
        await stop.wait()
    finally:
        logging.getLogger("iotsim_tui.broker").info("shutting down")
        await broker.stop()
    return 0


def _passwd(args: argparse.Namespace) -> int:
    from iotsim_tui.broker.auth import add_user

    path: Path = args.password_file
    user: str = args.user
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise UsageError("no terminal to ask for the password: use --password-stdin")
        password = getpass.getpass(f"password for {user}: ")
        if getpass.getpass("again: ") != password:
            raise BrokerError("the two passwords differ; nothing was changed")
    new = add_user(path, user, password)
    print(f"{'added' if new else 'changed the password of'} {user} in {path}", file=sys.stderr)
    return 0
