"""`iotsim-tui certs init|client|show`: make and inspect the certificates TLS needs."""

from __future__ import annotations

import argparse
from pathlib import Path

from iotsim_tui.certs.authority import DEFAULT_DAYS, MAX_DAYS, init_certs, issue_client
from iotsim_tui.certs.inspect import CertInfo, describe
from iotsim_tui.words import counted

DEFAULT_DIR = Path("certs")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the `init`, `client` and `show` actions to the `certs` parser."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    init = actions.add_parser(
        "init",
        help="make a new CA and a broker certificate (SAN localhost, 127.0.0.1, ::1 + --host)",
        description="Make a new certificate authority (ca.crt, ca.key) and a broker certificate "
        "(server.crt, server.key) valid for localhost, 127.0.0.1, ::1 and each --host.",
    )
    _add_dir(init)
    init.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="NAME",
        help="another DNS name or IP address the broker is reached by (repeatable)",
    )
    _add_days(init)
    init.add_argument("--force", action="store_true", help="replace existing files")

    client = actions.add_parser(
        "client",
        help="issue a client certificate for one device",
        description="Issue clients/ID.crt and clients/ID.key, signed by the folder's CA, for a "
        "device (or the broker console) to present to a broker that requires client certificates.",
    )
    client.add_argument("client_id", metavar="ID", help="the device's MQTT client id")
    _add_dir(client)
    _add_days(client)
    client.add_argument("--force", action="store_true", help="replace existing files")

    show = actions.add_parser(
        "show", help="print subjects, names, fingerprints and expiry of every certificate"
    )
    _add_dir(show)


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; errors are raised as CertificateError for the CLI to print."""
    directory: Path = args.dir
    if args.action == "init":
        files = init_certs(directory, hosts=args.host, days=args.days, force=args.force)
        print(f"wrote {files.ca_cert}, {files.ca_key} (the CA: keep ca.key private)")
        print(f"wrote {files.server_cert}, {files.server_key} (the broker's certificate)")
        infos = describe(directory)
        print(_render(infos[:2]))
        print(f"devices and clients trust the broker with: --cafile {files.ca_cert}")
        stale = [info.path.stem for info in infos[2:] if info.issuer != infos[0].subject]
        if stale:
            print(
                f"the new CA did not sign the client certificates of {', '.join(stale)}: "
                "reissue each with `iotsim-tui certs client ID --force`"
            )
    elif args.action == "client":
        client = issue_client(directory, args.client_id, days=args.days, force=args.force)
        print(f"wrote {client.cert}, {client.key}")
        print(f"use them with: --cert {client.cert} --key {client.key}")
    else:
        print(_render(describe(directory)))
    return 0


def _render(infos: list[CertInfo]) -> str:
    blocks = []
    for info in infos:
        kind = "CA" if info.is_ca else "certificate"
        state = "EXPIRED" if info.expired else f"{counted(info.days_left, 'day')} left"
        if not info.key_present:
            key = "no key file"
        elif info.key_too_open:
            key = f"{info.key_path} (mode {info.key_mode:o}: others can read it, chmod 600)"
        else:
            key = f"{info.key_path} (mode {info.key_mode:o})"
        lines = [
            f"{info.path}  [{kind}]",
            f"  subject      {info.subject}",
            f"  issuer       {info.issuer}",
            f"  names        {', '.join(info.alt_names) or '-'}",
            f"  sha256       {info.fingerprint}",
            f"  not after    {info.not_after:%Y-%m-%d %H:%M} UTC ({state})",
            f"  key          {key}",
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _add_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dir",
        type=Path,
        default=DEFAULT_DIR,
        metavar="DIR",
        help=f"the certificate folder (default: {DEFAULT_DIR})",
    )


def _add_days(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--days",
        type=_days,
        default=DEFAULT_DAYS,
        metavar="N",
        help=f"days of validity (default: {DEFAULT_DAYS})",
    )


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {text!r}") from None
    if not 1 <= days <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"days must be between 1 and {MAX_DAYS}")
    return days
