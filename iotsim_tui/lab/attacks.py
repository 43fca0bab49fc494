"""The seven attacks on an open broker, the defence that stops each, and what an attack did.

Each attack is run for real by `attack_run.run_attack`: a bundled broker on a free loopback
port with the defence on or off, the network's devices, and an attacker client of its own
(client id `attacker-NAME`). Its outcome is a few facts with counts, and whether it worked.
"""

from __future__ import annotations

from dataclasses import dataclass

from iotsim_tui.errors import UsageError
from iotsim_tui.profiles.lab_model import ATTACK_NAMES
from iotsim_tui.profiles.model import DEFENCE_NAMES


@dataclass(frozen=True, slots=True)
class Attack:
    """One attack: what it does, the defence that stops it, and how that shows."""

    name: str
    key: str
    """The key that starts it on the app's attacks screen."""
    title: str
    does: str
    defence: str
    """The `[network.broker.defences]` switch that stops it."""
    stops: str
    """What the defence does to it, in plain words."""


ATTACKS: tuple[Attack, ...] = (
    Attack(
        "anonymous",
        "1",
        "Anonymous access",
        "connects with no user name or password and reads the devices' telemetry",
        "password",
        "the broker asks for a user name and password: CONNACK refused (0x87 not authorized)",
    ),
    Attack(
        "wildcard",
        "2",
        "Rogue # and $SYS/# subscriber",
        "subscribes to # and $SYS/# and lists every topic, client id and payload it sees",
        "acl",
        "the ACL lets each device use only its own topics: SUBACK 0x87 for # and $SYS/#",
    ),
    Attack(
        "takeover",
        "3",
        "Client-id takeover",
        "connects with the first device's client id: the device is thrown off and its "
        "commands reach the attacker",
        "identity",
        "the client id must be the name in the client certificate: the takeover is refused "
        "at CONNACK",
    ),
    Attack(
        "retained",
        "4",
        "Retained command poisoning",
        "publishes a retained alert on the first device's command topic, which the device "
        "receives on its next connect",
        "acl",
        "the ACL lets no one else write the device's command topic: retained write denied "
        "(PUBACK 0x87)",
    ),
    Attack(
        "spoof_status",
        "5",
        "Spoofed will / status",
        "publishes a retained 'offline' on the first device's status (will) topic while it "
        "is connected",
        "acl",
        "the ACL lets only the device write its status topic: write denied (PUBACK 0x87)",
    ),
    Attack(
        "brute_force",
        "6",
        "Password guessing",
        "tries the passwords of a small built-in word list against the devices' user name",
        "login_delay",
        "each failed login makes the next one wait longer (1 s, doubling): the list is not "
        "worked through in time",
    ),
    Attack(
        "flood",
        "7",
        "Publish flood",
        "one client publishes as fast as it can (bounded in count and time); the devices' "
        "delivery latency is measured before and during",
        "rate_limit",
        "a per-client publish rate and queue limit: the flood is rate limited, the others' "
        "latency stays low",
    ),
)

WORDS: tuple[str, ...] = (
    "123456", "password", "12345678", "qwerty", "123456789", "12345", "1234", "111111",
    "1234567", "dragon", "123123", "baseball", "abc123", "football", "monkey", "letmein",
    "696969", "shadow", "master", "666666", "qwertyuiop", "123321", "mustang", "1234567890",
    "michael", "654321", "superman", "1qaz2wsx", "7777777", "121212", "000000", "qazwsx",
    "123qwe", "killer", "trustno1", "jordan", "jennifer", "zxcvbnm", "asdfgh", "hunter",
    "buster", "soccer", "harley", "batman", "andrew", "tigger", "sunshine", "iloveyou",
    "2000", "charlie", "robert", "thomas", "hockey", "ranger", "daniel", "starwars",
    "klaster", "112233", "george", "computer", "michelle", "jessica", "pepper", "1111",
    "zxcvbn", "555555", "11111111", "131313", "freedom", "777777", "pass", "maggie",
    "admin", "changeme", "raspberry", "mosquitto", "iot", "default", "root", "guest",
)  # fmt: skip
"""The password guesser's word list: common passwords, and a few defaults of IoT kits."""

assert tuple(attack.name for attack in ATTACKS) == ATTACK_NAMES
assert {attack.defence for attack in ATTACKS} <= set(DEFENCE_NAMES)

RESULTS = ("succeeded", "refused")


def find_attack(name: str) -> Attack:
    """The attack named (or numbered) `name`; UsageError naming them all otherwise."""
    for attack in ATTACKS:
        if name in (attack.name, attack.key):
            return attack
    names = ", ".join(attack.name for attack in ATTACKS)
    raise UsageError(f"no attack {name!r}: the attacks are {names} (or 1 to {len(ATTACKS)})")


@dataclass(frozen=True)
class AttackOutcome:
    """What one run of an attack did: facts with counts, and whether it worked."""

    attack: Attack
    defence: bool
    """True when the attack ran with its defence on."""
    succeeded: bool
    summary: str
    """One line: what the attacker got, or what stopped it and why."""
    facts: tuple[str, ...]
    device_data: int = 0
    """Messages of the devices the attacker read (0: it read no device data)."""
    attacker: str = ""
    """The attacker's client id, as the broker console shows it."""
    broker_log: tuple[str, ...] = ()
    """The broker's log lines about the attacker."""

    @property
    def result(self) -> str:
        """ "succeeded" or "refused"."""
        return RESULTS[0] if self.succeeded else RESULTS[1]
