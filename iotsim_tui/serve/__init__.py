"""`iotsim-tui serve`: the app in a browser, one app process per tab, for a classroom.

Each tab gets its own app process, started in a working folder of its own under the server's
data folder (its profiles, certificates and log), with its bundled brokers on free ports. The
process, and the brokers and devices it started, end when the tab closes. At most
`--max-sessions` run at once; the next browser is told plainly that the server is full.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from pathlib import Path

from iotsim_tui.errors import UsageError

DEFAULT_MAX_SESSIONS = 20


def default_data_folder() -> Path:
    """Where the sessions' folders go: $XDG_STATE_HOME/iotsim-tui/serve."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "iotsim-tui" / "serve"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `iotsim-tui serve`."""
    parser.epilog = (
        "Each browser tab gets its own app, working folder and bundled broker on a free port. "
        "Serving beyond this machine needs --public; put a reverse proxy with TLS and a login "
        "in front (docs/serve.md)."
    )
    parser.add_argument(
        "profiles",
        nargs="*",
        type=Path,
        metavar="PROFILE",
        help="network profiles every session opens (each gets its own copy); "
        "default: the app's default network",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (8000)")
    parser.add_argument(
        "--public",
        action="store_true",
        help="allow listening on an address other than loopback (anyone who reaches the port "
        "gets the app)",
    )
    parser.add_argument(
        "--max-sessions",
        type=int,
        default=DEFAULT_MAX_SESSIONS,
        metavar="N",
        help=f"the most sessions (browser tabs) at once ({DEFAULT_MAX_SESSIONS})",
    )
    parser.add_argument(
        "--data",
        type=Path,
        metavar="DIR",
        help=f"folder for the sessions' working folders (default {default_data_folder()})",
    )
    parser.add_argument(
        "--keep-files",
        action="store_true",
        help="keep a session's folder (profiles, certificates, log) after its tab closes",
    )
    parser.add_argument(
        "--public-url",
        metavar="URL",
        help="the address browsers open, when a reverse proxy is in front "
        "(https://lab.example.org); default: the address each browser asked for",
    )


def public_warning(host: str, port: int) -> str:
    """What `serve --public` prints before it listens beyond this machine."""
    return (
        f"iotsim-tui serve: warning: listening on {host}:{port}, beyond this machine. Anyone "
        "who can reach this port gets the full app, with no password: no shell, but it "
        "opens and saves files wherever this user may, and starts brokers and devices on "
        "this machine. Put a reverse proxy with TLS and a login in front of it "
        "(docs/serve.md), or bind 127.0.0.1."
    )


def is_loopback(host: str) -> bool:
    """True for localhost and the addresses of 127.0.0.0/8 and ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C; returns the exit code."""
    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not between 1 and 65535")
    if args.max_sessions < 1:
        raise UsageError(f"--max-sessions {args.max_sessions}: must be at least 1")
    if not is_loopback(args.host):
        if not args.public:
            raise UsageError(
                f"--host {args.host} is not a loopback address: anyone who reaches it would "
                "get the app. Add --public to serve beyond this machine (see docs/serve.md)"
            )
        print(public_warning(args.host, args.port), file=sys.stderr)
    profiles = [path.resolve() for path in args.profiles]
    from iotsim_tui.profiles.load import load_network

    for path in profiles:
        load_network(path)  # every session opens it: a broken one is said now, once
    from iotsim_tui.serve.server import ClassroomServer
    from iotsim_tui.serve.sessions import SessionFolders

    folders = SessionFolders(
        args.data or default_data_folder(), profiles=profiles, keep=args.keep_files
    )
    folders.prepare()  # a folder that cannot be made is said now, not at the first tab
    server = ClassroomServer(
        folders,
        host=args.host,
        port=args.port,
        max_sessions=args.max_sessions,
        public_url=args.public_url,
    )
    try:
        server.serve()
    except OSError as error:  # the port is taken, or the address is not this machine's
        raise UsageError(
            f"cannot listen on {args.host}:{args.port}: {error.strerror or error}; pick "
            "another with --port or --host"
        ) from None
    return 0


__all__ = ["add_arguments", "run"]
