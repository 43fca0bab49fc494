"""`iotsim-tui lab lesson NAME PROFILE [--pcap FILE]`: one TLS lesson, without a screen."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from iotsim_tui.errors import ProfileProblem
from iotsim_tui.lab.lessons import LESSONS, LessonRefused, check_network, find_lesson, number_of
from iotsim_tui.lab.report_text import report_width, wrapped

MARKS = {"": "  ", "key": "▸ ", "alarm": "⚠ "}
"""How a line of what the relay saw starts: the lesson's point, and what an attacker reads."""


def add_lesson_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `lesson` to the `lab` group's subcommands."""
    names = "\n".join(
        f"  {i}. {lesson.name:<20} {lesson.title}" for i, lesson in enumerate(LESSONS, 1)
    )
    lesson = commands.add_parser(
        "lesson",
        help="run one TLS lesson: the device's reason, what the relay saw, what stopped it",
        description="Set one TLS lesson up for real on a network with TLS on (certificates "
        "made on the spot in a temporary folder, the bundled broker on a free loopback port, "
        "the network's first device, the eavesdrop relay), then print the device log's "
        "reason, what the relay saw, and what stopped it or would have. Everything it started "
        "is stopped again; the network and its profile are left as they were.",
        epilog=f"lessons (a name or a number):\n{names}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    lesson.add_argument("name", metavar="NAME", help="the lesson: a name below, or its number")
    lesson.add_argument("profile", type=Path, metavar="PROFILE", help="a network profile, TLS on")
    lesson.add_argument(
        "--pcap", type=Path, metavar="FILE", help="write what the relay saw to this pcap file"
    )
    lesson.add_argument(
        "--port",
        type=_port,
        default=0,
        metavar="N",
        help="the port of the lesson's broker on loopback (default: a free one)",
    )
    lesson.add_argument(
        "--certs-dir",
        type=Path,
        metavar="DIR",
        help="where the lesson makes its certificates, in a new folder removed afterwards "
        "(default: the system's temporary folder)",
    )
    lesson.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the lesson; 0 when it showed what it is meant to show, 1 when it did not."""
    lesson = find_lesson(args.name)  # before anything else: an unknown name starts nothing
    from iotsim_tui.lab.lessons_run import run_lesson
    from iotsim_tui.profiles.load import load_network

    network = load_network(args.profile)
    try:
        check_network(network)
    except LessonRefused as refused:
        raise _located(refused, args.profile) from None
    result = asyncio.run(
        run_lesson(lesson, network, certs_parent=args.certs_dir, port=args.port, pcap=args.pcap)
    )
    width = report_width()
    print(f"Lesson {number_of(lesson)} · {lesson.title}")
    print(wrapped(lesson.case, width, ""))
    print()
    print("The device log")
    for line in result.device_log:
        print(wrapped(line, width, "  "))
    print(wrapped(f"Reason: {result.reason}", width, ""))
    print()
    print("What the eavesdrop relay saw")
    for seen in result.seen:
        print(wrapped(seen.text, width, MARKS[seen.mark.value]))
    print()
    print("What stopped it, or would have")
    print(wrapped(lesson.lesson, width, "  "))
    if result.capture is not None:
        print()
        print(f"capture written to {args.pcap}: {result.capture}")
    if not result.as_expected:
        print(f"\nthe lesson did not go as expected: {result.reason}")
        return 1
    return 0


def _located(refused: LessonRefused, profile: Path) -> LessonRefused:
    """The refusal with the profile's file, line and key, as every profile problem is told."""
    if refused.key is None:
        return refused
    from iotsim_tui.profiles.locate import LineIndex

    try:
        line = LineIndex(profile.read_text(encoding="utf-8")).line_of(tuple(refused.key.split(".")))
    except (OSError, UnicodeDecodeError):
        line = None
    where = ProfileProblem(
        str(profile), refused.key, refused.problem, line=line, value=refused.value
    )
    return LessonRefused(where.message)


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not between 0 and 65535")
    return port
