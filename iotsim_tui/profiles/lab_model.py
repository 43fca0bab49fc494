"""The typed model of a profile's `[lab]` table: scripted steps and the checks that grade a lab.

`profiles.lab` checks the table and builds these; `lab.steps` runs the steps and `lab.checks`
grades the checks. `Network.lab` holds them; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class CheckKind(StrEnum):
    """What a lab checkpoint looks for (`[lab] checks`); `lab.checks` evaluates each."""

    RECEIVED = "received"
    """A device received `payload` on `topic`."""
    CLEAR_ON_WIRE = "clear_on_wire"
    """`payload` went over the wire in clear: the eavesdrop relay read it."""
    HIDDEN_ON_WIRE = "hidden_on_wire"
    """A device received `payload`, and it never appeared in clear on the wire."""
    REFUSED = "refused"
    """A device was refused for the TLS (or login) `reason` named."""
    TLS = "tls"
    """A device connected over TLS."""
    VERIFIED = "verified"
    """A device connected over TLS with the broker's certificate and host name checked."""
    LEDGER = "ledger"
    """No message was lost: every one a device (or `device`) published is accounted for and
    none was dropped."""
    ATTACK_SUCCEEDED = "attack_succeeded"
    """An attack step of `attack` worked (what an open broker gives away)."""
    ATTACK_REFUSED = "attack_refused"
    """An attack step of `attack` failed, and why (CONNACK refused, SUBACK 0x87, ...)."""
    ATTACKER_READ_NOTHING = "attacker_read_nothing"
    """Every attack step with its defence on (of `attack`, or of all) read no device data."""


ATTACK_NAMES: tuple[str, ...] = (
    "anonymous",
    "wildcard",
    "takeover",
    "retained",
    "spoof_status",
    "brute_force",
    "flood",
)
"""The attacks a lab can run and check (what each does: `lab.attacks.ATTACKS`)."""


REFUSAL_REASONS: tuple[str, ...] = (
    "unknown_ca",
    "expired",
    "hostname",
    "client_certificate_required",
    "client_certificate_rejected",
    "tls_version",
    "not_tls",
    "not_authorized",
)
"""The reasons a `refused` check can name (what each means: `lab.checks.REFUSALS`)."""


class StepAction(StrEnum):
    """What one scripted step of a lab does (`[lab] steps`)."""

    START = "start"
    """Start the devices (`devices`, or all) and wait until they connect or fail."""
    STOP = "stop"
    """Stop the devices (`devices`, or all)."""
    WAIT = "wait"
    """Let `seconds` pass."""
    SEND = "send"
    """Send a command from the broker console: `payload` on `topic`."""
    CERTIFICATES = "certificates"
    """Generate a CA and the broker's certificate (for the run: never in the repository)."""
    TLS = "tls"
    """Switch TLS on (`enabled = false`: off); the port follows, as in the network settings.
    It applies on the next start or restart."""
    RESTART = "restart"
    """Restart the broker with the settings now, and the running devices after it."""
    ATTACK = "attack"
    """Run `attack` against a bundled broker of its own, its defence on (`defence = true`) or
    off, and keep the outcome for the attack checks."""


@dataclass(frozen=True)
class Check:
    """One checkpoint of a lab; which keys apply depends on `kind`."""

    kind: CheckKind
    device: str | None = None
    topic: str | None = None
    payload: str | None = None
    reason: str | None = None
    attack: str | None = None
    name: str | None = None
    """What the report calls it; None: a title made from the other keys."""


@dataclass(frozen=True)
class Step:
    """One scripted step of a lab; which keys apply depends on `do`."""

    do: StepAction
    devices: tuple[str, ...] = ()
    """For start and stop: these devices only (empty: all)."""
    seconds: float | None = None
    topic: str | None = None
    payload: str | None = None
    qos: int = 1
    enabled: bool = True
    attack: str | None = None
    defence: bool = False


@dataclass(frozen=True)
class Lab:
    """A network's lab: steps that `iotsim-tui lab check` runs, and checks it grades."""

    steps: tuple[Step, ...] = ()
    checks: tuple[Check, ...] = ()
