"""Grading a lab's checks from what a running network reports.

A `Grader` takes in, as they come, the engine's events, the eavesdrop relay's items and the
devices' ledgers, and keeps only what its checks need (a few flags and counts per check,
whatever the traffic). `verdicts()` says of each check whether it passed, failed, or is
still open; a finished run closes the open ones (`final=True`): what did not happen failed.

The app's checklist and `iotsim-tui lab check` grade with the same code, so a student who
does the lab by hand sees the ticks a grader's run would give.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from iotsim_tui.engine.events import (
    DeviceError,
    DeviceStatus,
    Event,
    MessageIn,
    StatusChanged,
)
from iotsim_tui.engine.views import Ledger
from iotsim_tui.profiles.lab_model import REFUSAL_REASONS, Check, CheckKind
from iotsim_tui.profiles.model import TLSSettings

if TYPE_CHECKING:
    # Only a type: the app's first frame must not wait for the relay's modules.
    from iotsim_tui.lab.attacks import AttackOutcome
    from iotsim_tui.wiretap.items import WireItem

REFUSALS: dict[str, tuple[str, tuple[str, ...]]] = {
    # reason: (what it means, words of the device's failure message that show it)
    "unknown_ca": (
        "the broker's certificate is not signed by the CA the device trusts",
        ("is not signed by", "self-signed"),
    ),
    "expired": ("a certificate has expired", ("has expired",)),
    "hostname": ("the certificate is for another host name", ("hostname mismatch",)),
    "client_certificate_required": (
        "the broker requires a client certificate the device does not have",
        ("requires a client certificate",),
    ),
    "client_certificate_rejected": (
        "the broker rejected the device's client certificate",
        (
            "rejected the client certificate",
            "does not trust the client certificate",
            "could not verify the client certificate",
        ),
    ),
    "tls_version": ("no TLS version in common", ("no tls version in common",)),
    "not_tls": ("the broker does not speak TLS on that port", ("does not speak tls",)),
    "not_authorized": (
        "the broker refused the user name or password",
        ("not authorized", "bad user name or password"),
    ),
}
"""Each reason a `refused` check names (the profile's `REFUSAL_REASONS`), and how to see it."""

assert set(REFUSALS) == set(REFUSAL_REASONS)


class Mark(StrEnum):
    """Where a check stands."""

    PASSED = "pass"
    FAILED = "fail"
    OPEN = "open"
    """Not decided yet: what it waits for has not happened (a finished run fails it)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """One check, where it stands, and why in plain words."""

    check: Check
    title: str
    mark: Mark
    detail: str

    @property
    def passed(self) -> bool:
        """True when the check passed."""
        return self.mark is Mark.PASSED


def title_of(check: Check) -> str:
    """What the report calls a check: its `name`, else a sentence made from its keys."""
    if check.name:
        return check.name
    payload = json.dumps(check.payload, ensure_ascii=False) if check.payload is not None else ""
    match check.kind:
        case CheckKind.RECEIVED:
            return f"{check.device} received {payload} on {check.topic}"
        case CheckKind.CLEAR_ON_WIRE:
            return f"{payload} readable in clear on the wire"
        case CheckKind.HIDDEN_ON_WIRE:
            return f"{payload} never in clear on the wire"
        case CheckKind.REFUSED:
            return f"{check.device} refused: {check.reason}"
        case CheckKind.TLS:
            return f"{check.device} connected over TLS"
        case CheckKind.VERIFIED:
            return f"{check.device} connected with certificates verified"
        case CheckKind.LEDGER:
            return f"{check.device or 'every device'} lost no message"
        case CheckKind.ATTACK_SUCCEEDED:
            return f"attack {check.attack} worked with its defence off"
        case CheckKind.ATTACK_REFUSED:
            return f"attack {check.attack} refused"
        case CheckKind.ATTACKER_READ_NOTHING:
            which = f"of attack {check.attack} " if check.attack else ""
            return f"the attacker {which}read no device data with the defences on"
    return str(check.kind)


@dataclass
class _Seen:
    """What the grader keeps for one device."""

    received: dict[str, int] = field(default_factory=dict)
    """Topic -> messages received on it (for the topics checks name)."""
    payloads: set[tuple[str, str]] = field(default_factory=set)
    """(topic, payload) pairs received that checks look for."""
    failures: list[str] = field(default_factory=list)
    """Why its connections failed, oldest first (a few)."""
    tls_version: str | None = None
    verified_tls: str | None = None
    """The TLS version of a connection made with certificate and host name checks on."""
    ledger: Ledger | None = None


MAX_FAILURES_KEPT = 20


class Grader:
    """Grades one network's checks from what it reports, as it runs."""

    def __init__(self, checks: Iterable[Check]) -> None:
        self.checks = tuple(checks)
        self._devices: dict[str, _Seen] = {}
        self._topics = {c.topic for c in self.checks if c.topic is not None}
        self._wanted = {
            (c.topic, c.payload)
            for c in self.checks
            if c.kind is CheckKind.RECEIVED and c.topic is not None and c.payload is not None
        }
        self._on_wire = {
            c.payload.encode()
            for c in self.checks
            if c.kind in (CheckKind.CLEAR_ON_WIRE, CheckKind.HIDDEN_ON_WIRE) and c.payload
        }
        self._delivered: dict[bytes, str] = {}
        """Payload looked for on the wire -> the first device that received it."""
        self._clear: dict[bytes, str] = {}
        """Payload -> where the relay read it in clear (the first time)."""
        self._connections: set[int] = set()
        self._tls_connections: set[int] = set()
        self.verifying = True
        """True while the devices connect with certificate and host name checks on."""
        self._attacks: list[AttackOutcome] = []
        """The outcome of each attack step, in order."""

    @property
    def device_ids(self) -> set[str]:
        """The devices the checks name."""
        return {c.device for c in self.checks if c.device is not None}

    def use_settings(self, tls: TLSSettings) -> None:
        """The TLS settings the devices connect with from now on."""
        self.verifying = tls.verify_certificate and tls.verify_hostname

    def _seen(self, device_id: str) -> _Seen:
        seen = self._devices.get(device_id)
        if seen is None:
            seen = self._devices[device_id] = _Seen()
        return seen

    def take_events(self, events: Iterable[Event]) -> None:
        """Fold in a batch of the engine's events."""
        for event in events:
            if isinstance(event, MessageIn):
                if event.payload in self._on_wire:
                    self._delivered.setdefault(event.payload, event.device_id)
                if event.topic not in self._topics:
                    continue
                seen = self._seen(event.device_id)
                seen.received[event.topic] = seen.received.get(event.topic, 0) + 1
                text = event.payload.decode("utf-8", "replace")
                if (event.topic, text) in self._wanted:
                    seen.payloads.add((event.topic, text))
            elif isinstance(event, StatusChanged):
                self._status(event)
            elif isinstance(event, DeviceError):
                self._failure(event.device_id, event.message)

    def _status(self, event: StatusChanged) -> None:
        if event.status is DeviceStatus.CONNECTED:
            _, over, version = event.detail.partition(" over ")
            if over:
                version = version.split(",")[0].strip()
                seen = self._seen(event.device_id)
                seen.tls_version = version
                if self.verifying:
                    seen.verified_tls = version
        elif event.status in (DeviceStatus.ERROR, DeviceStatus.RECONNECTING) and event.detail:
            self._failure(event.device_id, event.detail)

    def _failure(self, device_id: str, message: str) -> None:
        failures = self._seen(device_id).failures
        if len(failures) < MAX_FAILURES_KEPT and message not in failures:
            failures.append(message)

    def take_wire(self, items: Iterable[WireItem]) -> None:
        """Fold in items the eavesdrop relay dissected."""
        for item in items:
            self._connections.add(item.connection)
            if item.protocol == "TLS":
                self._tls_connections.add(item.connection)
            for payload in self._on_wire:
                if payload not in self._clear and payload in item.data:
                    self._clear[payload] = f"{item.protocol} on connection {item.connection}"

    def take_attack(self, outcome: AttackOutcome) -> None:
        """The outcome of an attack step."""
        self._attacks.append(outcome)

    def take_ledger(self, device_id: str, ledger: Ledger) -> None:
        """A device's ledger as it is now (it replaces the one taken before)."""
        self._seen(device_id).ledger = ledger

    def verdicts(self, *, final: bool = False) -> list[Verdict]:
        """Every check, in the profile's order; with `final`, open checks have failed."""
        verdicts = []
        for check in self.checks:
            mark, detail = _GRADERS[check.kind](self, check)
            if final and mark is Mark.OPEN:
                mark = Mark.FAILED
            verdicts.append(Verdict(check, title_of(check), mark, detail))
        return verdicts

    # -- one function per kind of check -----------------------------------------------

    def _received(self, check: Check) -> tuple[Mark, str]:
        device, topic = check.device or "", check.topic or ""
        seen = self._devices.get(device, _Seen())
        if (topic, check.payload) in seen.payloads:
            return Mark.PASSED, f"it arrived in {device}'s log"
        count = seen.received.get(topic, 0)
        if count:
            return Mark.OPEN, f"{count} other message(s) on {topic}, not this one"
        return Mark.OPEN, f"nothing arrived on {topic}"

    def _clear_on_wire(self, check: Check) -> tuple[Mark, str]:
        where = self._clear.get((check.payload or "").encode())
        if where is not None:
            return Mark.PASSED, f"the eavesdrop relay read it in clear ({where})"
        return Mark.OPEN, _traffic(self._connections, self._tls_connections) + ", not this text"

    def _hidden_on_wire(self, check: Check) -> tuple[Mark, str]:
        payload = (check.payload or "").encode()
        where = self._clear.get(payload)
        if where is not None:
            return Mark.FAILED, f"the eavesdrop relay read it in clear ({where})"
        device = self._delivered.get(payload)
        if device is None:
            # Only what reaches a device crosses the wire the relay watches.
            return Mark.OPEN, "no device received it yet, so it has not crossed the wire"
        traffic = _traffic(self._connections, self._tls_connections)
        return Mark.PASSED, f"{device} received it; {traffic}, never it in clear"

    def _refused(self, check: Check) -> tuple[Mark, str]:
        meaning, words = REFUSALS[check.reason or ""]
        failures = self._devices.get(check.device or "", _Seen()).failures
        for failure in failures:
            if any(word in failure.lower() for word in words):
                return Mark.PASSED, f"{check.device}: {failure}"
        if failures:
            return Mark.OPEN, f"{check.device} failed otherwise: {failures[-1]}"
        return Mark.OPEN, f"{check.device} was not refused ({meaning})"

    def _tls(self, check: Check) -> tuple[Mark, str]:
        version = self._devices.get(check.device or "", _Seen()).tls_version
        if version is not None:
            return Mark.PASSED, f"{check.device} connected over {version}"
        return Mark.OPEN, f"{check.device} has not connected over TLS"

    def _verified(self, check: Check) -> tuple[Mark, str]:
        seen = self._devices.get(check.device or "", _Seen())
        if seen.verified_tls is not None:
            return Mark.PASSED, (
                f"{check.device} connected over {seen.verified_tls}, "
                "the broker's certificate and host name checked"
            )
        if seen.tls_version is not None:
            return Mark.OPEN, f"{check.device} connected over TLS with certificate checks off"
        return Mark.OPEN, f"{check.device} has not connected over TLS"

    def _ledger(self, check: Check) -> tuple[Mark, str]:
        if check.device is not None:
            ledgers = [self._devices.get(check.device or "", _Seen()).ledger]
        else:
            ledgers = [seen.ledger for seen in self._devices.values()]
        known = [ledger for ledger in ledgers if ledger is not None]
        if not known:
            return Mark.OPEN, "no ledger yet: the devices have not run"
        total = Ledger()
        for ledger in known:
            total += ledger
        counts = f"{total.accepted} published, {total.acknowledged} acknowledged"
        if total.dropped:
            reasons = ", ".join(f"{n} {why}" for why, n in sorted(total.drop_reasons.items()))
            return Mark.FAILED, f"{counts}, {total.dropped} lost ({reasons})"
        if not total.balanced:
            return Mark.FAILED, f"{counts}: the counts do not add up"
        if total.queued:
            return Mark.OPEN, f"{counts}, {total.queued} still waiting"
        return Mark.PASSED, counts + ", none lost"

    def _runs_of(self, check: Check) -> list[AttackOutcome]:
        return [o for o in self._attacks if check.attack in (None, o.attack.name)]

    def _attack_succeeded(self, check: Check) -> tuple[Mark, str]:
        runs = self._runs_of(check)
        for outcome in runs:
            if outcome.succeeded:
                return Mark.PASSED, outcome.summary
        if runs:
            return Mark.OPEN, f"it did not work: {runs[-1].summary}"
        return Mark.OPEN, f"attack {check.attack} has not run"

    def _attack_refused(self, check: Check) -> tuple[Mark, str]:
        runs = self._runs_of(check)
        for outcome in runs:
            if not outcome.succeeded:
                return Mark.PASSED, outcome.summary
        if runs:
            return Mark.OPEN, f"it worked: {runs[-1].summary}"
        return Mark.OPEN, f"attack {check.attack} has not run"

    def _attacker_read_nothing(self, check: Check) -> tuple[Mark, str]:
        defended = [o for o in self._runs_of(check) if o.defence]
        if not defended:
            return Mark.OPEN, "no attack has run with its defence on"
        read = [o for o in defended if o.device_data]
        if read:
            worst = read[0]
            return Mark.FAILED, (
                f"attack {worst.attack.name} read {worst.device_data} device message(s) "
                "with its defence on"
            )
        names = ", ".join(sorted({o.attack.name for o in defended}))
        return Mark.PASSED, f"{len(defended)} attack run(s) with defences on ({names}): 0 read"


def _traffic(connections: set[int], tls: set[int]) -> str:
    if not connections:
        return "no traffic went through the eavesdrop relay"
    return f"the relay saw {len(connections)} connection(s), {len(tls)} of them TLS"


_GRADERS: dict[CheckKind, Callable[[Grader, Check], tuple[Mark, str]]] = {
    CheckKind.RECEIVED: Grader._received,
    CheckKind.CLEAR_ON_WIRE: Grader._clear_on_wire,
    CheckKind.HIDDEN_ON_WIRE: Grader._hidden_on_wire,
    CheckKind.REFUSED: Grader._refused,
    CheckKind.TLS: Grader._tls,
    CheckKind.VERIFIED: Grader._verified,
    CheckKind.LEDGER: Grader._ledger,
    CheckKind.ATTACK_SUCCEEDED: Grader._attack_succeeded,
    CheckKind.ATTACK_REFUSED: Grader._attack_refused,
    CheckKind.ATTACKER_READ_NOTHING: Grader._attacker_read_nothing,
}
"""How each kind is graded; a new kind of check adds its function here."""
