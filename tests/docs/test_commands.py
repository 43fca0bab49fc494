"""Every shell command the documentation shows runs, and ends as the text says it does.

Collected from the pages (`tests/docs/markdown.py`): each command of a fenced `sh` or
`console` block, and each command of the README's command table. A new command in the docs
is picked up by itself and just has to work. One that cannot run here goes in NOT_RUN, and
one that runs until it is stopped in RUNS_UNTIL_STOPPED, each with its reason: until then,
its test fails and says so.

How they run: in a throw-away folder holding copies of profiles/ (pointed at the test's
broker), certs/ (unless the block makes its own with `certs init`), broker.passwd,
broker.acl, a broker config and, for blocks that read them, captures made by a headless run.
The ports 1883 and 8883 in a command become free ports: those of a bundled broker the tests
start, or, in a block that starts its own broker, ports nothing listens on. A table row is a
synopsis: it runs with every option it shows, `[...]` taken in, `a|b` as `a`, and its
placeholders (PROFILE, FILE, ...) filled from PLACEHOLDERS. A command is expected to exit 0
unless EXIT_STATUS says otherwise; a console block's output lines must appear in what it
printed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from iotsim_tui.broker.auth import add_user
from tests.docs.markdown import (
    ROOT,
    SHELL,
    Block,
    Command,
    all_blocks,
    code_spans,
    commands_of,
    table_rows,
)
from tests.support.bundled import RunningBundled, run_bundled_broker
from tests.support.certs import make_cert_dir
from tests.support.mosquitto import stop
from tests.support.ports import free_ports, wait_for_port

TIMEOUT = 60.0
"""Seconds a command may take; past that it is taken to run until stopped."""
DOC_PORTS = (1883, 8883)
"""The ports the docs name, replaced by free ones when a command runs."""

NOT_RUN: dict[str, str] = {
    "make run": "opens the interactive app (the app's own tests drive it in tmux and Textual)",
    "make test": "runs the whole test suite, this test included",
    "iotsim-tui [PROFILE ...]": "opens the interactive app (tests/e2e drives it in tmux)",
    "iotsim-tui serve": "serves the app in a browser until Ctrl-C: tests/e2e/test_serve_browser.py "
    "drives it in Chromium, in a namespace with only loopback",
    "docker build": "needs a Docker engine (none runs here); tests/deploy checks the Dockerfile "
    "copies only files the project has",
    "kubectl ": "needs a Kubernetes cluster (tests/deploy checks the manifest against its schema)",
    "docker push": "pushes to a registry of the user's; nothing leaves this machine",
    "mosquitto_sub ": "waits for messages until Ctrl-C (run in a second terminal); the "
    "mosquitto_pub lines beside it are run",
}
"""Command prefix -> why the command is not run here."""

RUNS_UNTIL_STOPPED: dict[str, str] = {
    "iotsim-tui broker -": "the broker serves until SIGTERM: it is started, its ports must "
    "accept connections, and SIGTERM must stop it with exit code 0",
}
"""Command prefix -> what runs until it is stopped, and how the test stops it."""

EXIT_STATUS: dict[str, int] = {}
"""Command prefix -> the exit status its text implies, when it is not 0."""

PLACEHOLDERS: dict[str, str | list[str]] = {
    "PROFILE": "profiles/nde_finance_lab.toml",
    "check PROFILE": "profiles/labs/tls_lab.toml",
    "--shards N": "2",
    "k8s PROFILE": "profiles/fleet_1000.toml",
    "HOST:PORT": "127.0.0.1:1883",
    "I": "iotsim-tui:lab",
    "--out DIR": "k8s",
    "lesson NAME": "expired",
    "attack NAME": "anonymous",
    "NAME PROFILE": "profiles/labs/tls_lessons.toml",
    "--junit FILE": "grades.xml",
    "S": "1",
    "ID": "TS1",
    "N": "1",
    "I/N": "1/1",
    "H": "127.0.0.1",
    "P": "1883",
    "--pcap FILE": "capture.pcap",
    "SUMMARY": "summary.json",
    "--config FILE": "broker.toml",
    "--acl-file F": "broker.acl",
    "DIR": "certs",
    "F": "broker.passwd",
    "FILE": "broker.passwd",
    "USER": "alice",
    "NAME": "lab.example",
    "--topic FILTER": "finance/+/temperature",
    "--out FILE": "traffic.jsonl",
    "--from-pcap FILE": "lab.pcap",
    "replay FILE": "profiles/labs/alerts.jsonl",
    "X": "2",
    "COMMAND": ["run", "broker", "certs", "validate", "lab"],
}
"""A synopsis' placeholder (or option and placeholder) -> what the test gives it."""

_PLACEHOLDER = re.compile(r"^[A-Z][A-Z_/:]*$")


def synopsis_commands(synopsis: str) -> list[str]:
    """A table row's synopsis as commands to run: every option in, placeholders filled."""
    text = synopsis if synopsis.startswith("iotsim-tui") else f"iotsim-tui {synopsis}"
    # "a\\|b" is a choice written in a Markdown table: the first is run.
    words = [
        w.replace("\\|", "|").split("|")[0]
        for w in text.replace("[", " ").replace("]", " ").split()
    ]
    runs: list[list[str]] = [[]]
    before = ""
    for word in words:
        if word == "...":
            continue
        if not _PLACEHOLDER.match(word):
            runs = [[*run, word] for run in runs]
            before = word
            continue
        value = PLACEHOLDERS.get(f"{before} {word}", PLACEHOLDERS.get(word))
        before = word
        if value is None:
            raise AssertionError(f"{synopsis}: add {word} to PLACEHOLDERS (what to run it with)")
        values = value if isinstance(value, list) else [value]
        runs = [[*run, one] for run in runs for one in values]
    return [" ".join(run) for run in runs]


def _table_commands() -> list[Command]:
    found = []
    for row in table_rows(ROOT / "README.md", "## Command line"):
        for synopsis in code_spans(row[0]):
            found += [Command(f"README.md: {synopsis}", text) for text in _expanded(synopsis)]
    return found


def _expanded(synopsis: str) -> list[str]:
    full = synopsis if synopsis.startswith("iotsim-tui") else f"iotsim-tui {synopsis}"
    return [full] if _listed(NOT_RUN, full) else synopsis_commands(synopsis)


def _listed(table: dict[str, str] | dict[str, int], command: str) -> str | None:
    return next((prefix for prefix in table if command.startswith(prefix)), None)


def _serves(command: str) -> bool:
    """True for a command that runs until stopped (its --help does not)."""
    return bool(_listed(RUNS_UNTIL_STOPPED, command)) and "--help" not in command.split()


SHELL_BLOCKS = all_blocks(*SHELL, "console")
TABLE = _table_commands()


# --- the folder, the broker and the captures the commands use ---------------------------


@pytest.fixture(scope="module")
def harness_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a broker certificate and a client certificate, made once."""
    return make_cert_dir(tmp_path_factory.mktemp("doc-certs"))


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory, harness_certs: Path) -> Path:
    """A folder where captures are made once for the blocks that read them."""
    return tmp_path_factory.mktemp("doc-captures")


@pytest.fixture(scope="module")
def broker(
    tmp_path_factory: pytest.TempPathFactory, harness_certs: Path
) -> Iterator[RunningBundled]:
    """The bundled broker the commands talk to, plain and TLS, on free ports."""
    with run_bundled_broker(
        tmp_path_factory.mktemp("doc-broker"), plain=True, tls=True, certs=harness_certs
    ) as running:
        yield running


def _point_profiles_at(folder: Path, ports: dict[int, int]) -> None:
    """Copies of the bundled profiles that use the test's broker instead of starting one."""
    (folder / "profiles").mkdir()
    for source in sorted((ROOT / "profiles").glob("*.toml")):
        document = tomllib.loads(source.read_text(encoding="utf-8"))
        broker = document["network"].setdefault("broker", {})
        tls = broker.get("tls", {}).get("enabled", False)
        broker["port"] = ports[8883 if tls else 1883]
        broker["bundled"] = False
        (folder / "profiles" / source.name).write_text(tomli_w.dumps(document))
    # Labs start a bundled broker of their own on free ports: copied as they are.
    shutil.copytree(ROOT / "profiles" / "labs", folder / "profiles" / "labs")


def _prepare(folder: Path, ports: dict[int, int], text: str, certs: Path) -> None:
    _point_profiles_at(folder, ports)
    if "certs init" not in text:
        shutil.copytree(certs, folder / "certs")
    add_user(folder / "broker.passwd", "alice", "lab-password")
    (folder / "broker.toml").write_text('[broker]\nlog_level = "warning"\n')
    (folder / "broker.acl").write_text("user alice\ntopic readwrite #\n")


def _make_captures(folder: Path, text: str, ports: dict[int, int], made: Path) -> None:
    """lab.pcap (MQTT in clear), and tls.pcap with captures/keys.log, for blocks that read
    them: made once by headless runs of the lab network against the test's broker, then
    copied (`made` keeps them)."""
    if "lab.pcap" in text:
        if not (made / "lab.pcap").exists():
            _run_ok(
                made, "iotsim-tui run profiles/nde_finance_lab.toml --duration 1 --pcap lab.pcap"
            )
        shutil.copy(made / "lab.pcap", folder)
    if "tls.pcap" in text:
        if not (made / "tls.pcap").exists():
            lab = tomllib.loads((made / "profiles" / "nde_finance_lab.toml").read_text())
            broker = lab["network"]["broker"]
            broker["port"] = ports[8883]
            tls = {"enabled": True, "ca": "certs/ca.crt", "key_log": "captures/keys.log"}
            broker["tls"] = tls
            (made / "tls_lab.toml").write_text(tomli_w.dumps(lab))
            (made / "captures").mkdir()
            _run_ok(made, "iotsim-tui run tls_lab.toml --duration 1 --pcap tls.pcap")
        shutil.copy(made / "tls.pcap", folder)
        shutil.copytree(made / "captures", folder / "captures")


def _environment(folder: Path) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "HOME": str(folder)}


def _run_ok(folder: Path, command: str) -> None:
    done = _run(folder, command)
    assert done.returncode == 0, f"setting up: {command}\n{done.stdout}{done.stderr}"


def _run(folder: Path, command: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            ["bash", "-c", command],
            cwd=folder,
            env=_environment(folder),
            input="lab-password\n",
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"{command!r} did not end in {TIMEOUT:.0f} s: if it runs until stopped, add it to "
            "RUNS_UNTIL_STOPPED (how to stop it) or NOT_RUN (why not), with the reason"
        ) from None


def _with_ports(command: str, ports: dict[int, int]) -> str:
    for shown, real in ports.items():
        command = re.sub(rf"(?<![\d.]){shown}(?!\d)", str(real), command)
    return command


# --- running a list of commands ---------------------------------------------------------


def _run_commands(commands: list[Command], folder: Path, ports: dict[int, int]) -> None:
    servers: list[tuple[Command, subprocess.Popen[bytes]]] = []
    try:
        for command in commands:
            if _listed(NOT_RUN, command.text):
                continue
            text = _with_ports(command.text, ports)
            background = text.endswith("&")
            if _serves(command.text):
                server = _start_server(command, text.rstrip("&").strip(), folder, ports)
                servers.append((command, server))
                if not background:
                    _stop_server(command, server)
                continue
            assert not background, f"{command.where}: only servers run in the background here"
            _check(command, _run(folder, text))
    finally:
        for command, server in servers:
            _stop_server(command, server)


def _start_server(
    command: Command, text: str, folder: Path, ports: dict[int, int]
) -> subprocess.Popen[bytes]:
    shown = [real for real in ports.values() if re.search(rf"(?<!\d){real}(?!\d)", text)]
    assert shown, f"{command.where}: name the ports it listens on, so the test can wait for them"
    with (folder / "server.log").open("ab") as log:
        server = subprocess.Popen(
            ["bash", "-c", f"exec {text}"],
            cwd=folder,
            env=_environment(folder),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )
    for port in shown:
        try:
            wait_for_port(port, timeout=30)
        except TimeoutError:
            stop(server)
            log_text = (folder / "server.log").read_text(errors="replace")
            raise AssertionError(
                f"{command.where}: {text}: nothing on {port}\n{log_text}"
            ) from None
    return server


def _stop_server(command: Command, server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            stop(server)
            raise AssertionError(f"{command.where}: SIGTERM did not stop it") from None
    assert server.returncode == 0, f"{command.where}: {command.text}: exit {server.returncode}"


def _check(command: Command, done: subprocess.CompletedProcess[str]) -> None:
    prefix = _listed(EXIT_STATUS, command.text)
    expected = EXIT_STATUS[prefix] if prefix else 0
    said = f"{command.where}: {command.text}\nexit {done.returncode}\n{done.stdout}{done.stderr}"
    assert done.returncode == expected, said
    # Numbers vary from run to run (free ports, times): a line matches with any numbers.
    printed = {_shape(line) for line in done.stdout.splitlines()}
    for line in command.output:
        assert _shape(line) in printed, f"{said}\nthe page shows: {line}"


def _shape(line: str) -> str:
    return re.sub(r"\d+", "0", line.rstrip())


def _own_broker(commands: list[Command]) -> bool:
    return any(_serves(c.text) for c in commands)


def _run_block(
    commands: list[Command], tmp_path: Path, request: pytest.FixtureRequest, certs: Path
) -> None:
    folder = tmp_path / "work"
    folder.mkdir()
    text = "\n".join(c.text for c in commands)
    if _own_broker(commands):
        ports = dict(zip(DOC_PORTS, free_ports(len(DOC_PORTS)), strict=True))
    else:
        broker: RunningBundled = request.getfixturevalue("broker")
        assert broker.port is not None
        assert broker.tls_port is not None
        ports = {1883: broker.port, 8883: broker.tls_port}
    _prepare(folder, ports, text, certs)
    if "merge summary.json" in text:
        # A summary to merge: that of a run of one shard, 1 of 1.
        _run_ok(
            folder,
            "iotsim-tui run profiles/nde_finance_lab.toml --duration 1 --summary summary.json",
        )
    if ".pcap" in text:
        made: Path = request.getfixturevalue("captures")
        if not (made / "profiles").exists():
            _prepare(made, ports, "", certs)
        _make_captures(folder, text, ports, made)
    _run_commands(commands, folder, ports)


# Blocks that read captures wait for two headless runs first (about 5 s on a loaded machine).
@pytest.mark.parametrize(
    "block",
    [
        pytest.param(block, marks=[pytest.mark.slow] if ".pcap" in block.text else [])
        for block in SHELL_BLOCKS
    ],
    ids=lambda block: block.where,
)
def test_each_shell_block_runs_as_shown(
    block: Block, tmp_path: Path, request: pytest.FixtureRequest, harness_certs: Path
) -> None:
    commands = commands_of(block)
    _run_block(commands, tmp_path, request, harness_certs)


@pytest.mark.parametrize("command", TABLE, ids=lambda command: command.text)
def test_each_command_of_the_readme_table_runs(
    command: Command, tmp_path: Path, request: pytest.FixtureRequest, harness_certs: Path
) -> None:
    _run_block([command], tmp_path, request, harness_certs)


def test_the_docs_show_commands_and_the_lists_name_only_shown_ones() -> None:
    shown = [c.text for block in SHELL_BLOCKS for c in commands_of(block)]
    shown += [synopsis for c in TABLE for synopsis in (c.text, c.where.partition(": ")[2])]
    assert len(SHELL_BLOCKS) >= 4
    assert len(TABLE) >= 10
    for table in (NOT_RUN, RUNS_UNTIL_STOPPED, EXIT_STATUS):
        for prefix in table:
            assert any(text.startswith(prefix) for text in shown), f"{prefix!r}: no doc shows it"


def test_a_synopsis_runs_with_every_option_it_shows() -> None:
    assert synopsis_commands("certs client ID") == ["iotsim-tui certs client TS1"]
    assert synopsis_commands("iotsim-tui run PROFILE [--pcap FILE] [--shard I/N]") == [
        "iotsim-tui run profiles/nde_finance_lab.toml --pcap capture.pcap --shard 1/1"
    ]
    assert synopsis_commands("COMMAND --help")[1] == "iotsim-tui broker --help"
    assert synopsis_commands("broker [--log-level debug|info]") == [
        "iotsim-tui broker --log-level debug"
    ]
    with pytest.raises(AssertionError, match="add WHO to PLACEHOLDERS"):
        synopsis_commands("iotsim-tui greet WHO")


SYNOPSES = [
    (block.where, line.strip())
    for block in all_blocks("text")
    for line in block.text.splitlines()
    # "iotsim-tui serve: warning: ..." is what a command prints, not a synopsis
    if line.startswith("iotsim-tui ") and not line.split()[1].endswith(":")
]


@pytest.mark.parametrize(("where", "synopsis"), SYNOPSES, ids=[w for w, _ in SYNOPSES])
def test_each_synopsis_names_only_options_its_command_has(where: str, synopsis: str) -> None:
    """A synopsis in a `text` block is not run, but every option it names must exist: the
    same words must be in its command's --help."""
    import argparse

    from iotsim_tui.cli import GROUPS, SUBCOMMANDS, _group_parser, _subcommand_parser

    name = synopsis.split()[1]
    assert name in SUBCOMMANDS or name in GROUPS, f"{where}: no command {name!r}"
    if name in GROUPS:  # `iotsim-tui lab lesson ...`: the help of `lesson`
        group = _group_parser(name)
        (commands,) = [a for a in group._actions if isinstance(a, argparse._SubParsersAction)]
        parser = commands.choices[synopsis.split()[2]]
    else:
        parser, _ = _subcommand_parser(name)
    shown = parser.format_help()
    for option in re.findall(r"(?<![\w-])--[a-z][a-z-]*", synopsis):
        assert option in shown, f"{where}: iotsim-tui {name} has no {option}"
