"""The `iotsim-tui` command line.

`iotsim-tui [PROFILE ...]` opens the app; the subcommands below run without a screen. Each
subcommand lives in its own module, imported only when it is used, and exposes two functions:
`add_arguments(parser)` and `run(args) -> int` (the exit code).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol, cast

import iotsim_tui
from iotsim_tui.errors import IotsimError

DEFAULT_PROFILE = Path("profiles/health_care.toml")
"""What `iotsim-tui` opens without a profile; a copy ships inside the package."""


class Subcommand(Protocol):
    """What a subcommand module provides."""

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


# name -> (module, one line of help); the modules are imported on use only.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("iotsim_tui.headless", "run a network without a screen (progress, summary, JSON)"),
    "merge": ("iotsim_tui.headless.merge", "add the summaries of a run's shards into one"),
    "broker": ("iotsim_tui.broker.command", "run the bundled MQTT broker, or manage its passwords"),
    "certs": ("iotsim_tui.certs.command", "generate and show CA, server and client certificates"),
    "validate": ("iotsim_tui.profiles.command", "check network profiles and report every problem"),
    "serve": ("iotsim_tui.serve", "serve the app in a browser, one session per tab (classroom)"),
    "deploy": ("iotsim_tui.deploy", "write a Kubernetes Job that runs a network in shards"),
    "record": ("iotsim_tui.traffic.record_command", "write every message on a broker to a file"),
    "replay": ("iotsim_tui.traffic.replay_command", "publish a recording again, with its timing"),
}

# name -> (one line of help, modules that each add subcommands to the group): `iotsim-tui lab
# check ...`. Each module's `add_*_command(subparsers)` adds its own, with `run` as default.
GROUPS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "lab": (
        "labs: TLS lessons and broker attacks shown for real, a profile's checks graded",
        (
            ("iotsim_tui.lab.lesson_command", "add_lesson_command"),
            ("iotsim_tui.lab.check_command", "add_check_command"),
            ("iotsim_tui.lab.attack_command", "add_attack_command"),
        ),
    ),
}


def _app_parser() -> argparse.ArgumentParser:
    commands = "\n".join(f"  {name:<10} {text}" for name, (_, text) in SUBCOMMANDS.items())
    commands += "".join(f"\n  {name:<10} {text}" for name, (text, _) in GROUPS.items())
    parser = argparse.ArgumentParser(
        prog="iotsim-tui",
        description="Simulate networks of IoT devices over MQTT, command them, and eavesdrop "
        "on what travels with and without TLS.",
        epilog=f"commands (iotsim-tui COMMAND --help for each):\n{commands}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "profiles",
        nargs="*",
        type=Path,
        metavar="PROFILE",
        help=f"network profiles (TOML) to open; default {DEFAULT_PROFILE}",
    )
    parser.add_argument(
        "--no-broker",
        action="store_true",
        help="do not start the bundled broker, even when a profile asks for it",
    )
    parser.add_argument(
        "--free-ports",
        action="store_true",
        help="run each bundled broker on a free port instead of the profile's (the header "
        "shows it); `serve` opens the app so for every browser tab",
    )
    parser.add_argument(
        "--version", action=_VersionAction, help="show the version of iotsim-tui and exit"
    )
    return parser


class _VersionAction(argparse.Action):
    """`--version`, reading the installed version only when it is asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, help: str | None = None) -> None:
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        print(f"iotsim-tui {iotsim_tui.__version__}")
        parser.exit()


def _subcommand_parser(name: str) -> tuple[argparse.ArgumentParser, Subcommand]:
    module_name, text = SUBCOMMANDS[name]
    module = cast(Subcommand, importlib.import_module(module_name))
    parser = argparse.ArgumentParser(prog=f"iotsim-tui {name}", description=text)
    module.add_arguments(parser)
    return parser, module


def _group_parser(name: str) -> argparse.ArgumentParser:
    text, adders = GROUPS[name]
    parser = argparse.ArgumentParser(prog=f"iotsim-tui {name}", description=text)
    subparsers = parser.add_subparsers(metavar="COMMAND", required=True)
    for module_name, function in adders:
        getattr(importlib.import_module(module_name), function)(subparsers)
    return parser


def _open_app(args: argparse.Namespace) -> int:
    # No cyclic garbage collection until the first frame (the main screen turns it back on):
    # the start-up makes many objects that all live on, and collecting them cost ~0.1 s.
    gc.disable()
    from iotsim_tui.tui.app import run_app

    profiles, new = profiles_to_open(args.profiles)
    return run_app(profiles, new=new, start_broker=not args.no_broker, free_ports=args.free_ports)


def profiles_to_open(given: Sequence[Path]) -> tuple[list[Path], list[Path]]:
    """The profiles to open, and those to open as new networks (saving asks where).

    Without a profile, `profiles/health_care.toml` here; where there is none (outside the
    repository), the copy in the package, opened as a new network so that saving it never
    writes into the installed package.
    """
    if given:
        return list(given), []
    if DEFAULT_PROFILE.exists():
        return [DEFAULT_PROFILE], []
    from importlib.resources import files

    shipped = Path(str(files("iotsim_tui.profiles").joinpath(DEFAULT_PROFILE.name)))
    return [], [shipped]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run what it asks for, and return the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    action: Callable[[argparse.Namespace], int]
    if arguments and arguments[0] in SUBCOMMANDS:
        parser, module = _subcommand_parser(arguments[0])
        args = parser.parse_args(arguments[1:])
        action = module.run
    elif arguments and arguments[0] in GROUPS:
        args = _group_parser(arguments[0]).parse_args(arguments[1:])
        action = args.run
    else:
        args = _app_parser().parse_args(arguments)
        action = _open_app
    try:
        return action(args)
    except IotsimError as error:
        print(error.for_terminal(), file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 130
