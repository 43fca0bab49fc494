"""`iotsim-tui lab attack NAME PROFILE [--defence on|off]`: one attack on an open broker.

Exit codes: 0 when the attack showed what it is meant to (it worked with its defence off, it
failed with it on), 1 when it did not, 2 for bad input (an unknown attack, a broken profile,
a broker that is not loopback), in which case nothing is started.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from iotsim_tui.lab.attacks import ATTACKS, AttackOutcome, find_attack
from iotsim_tui.lab.report_text import report_width, wrapped


def add_attack_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `attack` to the `lab` group's subcommands."""
    names = "\n".join(
        f"  {attack.key}. {attack.name:<13} {attack.title} (defence: {attack.defence})"
        for attack in ATTACKS
    )
    parser = commands.add_parser(
        "attack",
        help="run one attack on the network's broker, its defence on or off, and say what it got",
        description="Start the bundled broker on a free loopback port with the attack's "
        "defence on or off, start the network's devices, and let an attacker client of its "
        "own (client id attacker-NAME) do its worst: what it read or did, with counts, or "
        "what stopped it and why. Everything it started is stopped again; the profile is "
        "left as it was. Only ever against a broker iotsim-tui starts itself on loopback.",
        epilog=f"attacks (a name or a number):\n{names}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", metavar="NAME", help="the attack: a name below, or its number")
    parser.add_argument("profile", type=Path, metavar="PROFILE", help="a network profile")
    parser.add_argument(
        "--defence",
        choices=("on", "off"),
        help="the attack's defence on or off (default: as [network.broker.defences] says)",
    )
    parser.add_argument(
        "--device", metavar="ID", help="the device to aim at (default: the network's first)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run the attack; 0 when it went as its defence says it should, 1 when not."""
    attack = find_attack(args.name)  # before anything else: an unknown name starts nothing
    from iotsim_tui.lab.attack_run import refuse_remote, run_attack, target_device
    from iotsim_tui.profiles.load import load_network

    network = load_network(args.profile)
    refuse_remote(network)
    target_device(network, args.device)
    if args.defence is None:
        defence = bool(getattr(network.broker.defences, attack.defence))
    else:
        defence = args.defence == "on"
    outcome = asyncio.run(
        run_attack(attack, network, defence=defence, device_id=args.device, say=print)
    )
    print(render(outcome))
    return 0 if outcome.succeeded != defence else 1


def render(outcome: AttackOutcome) -> str:
    """The outcome as the command line prints it."""
    width = report_width()
    attack = outcome.attack
    state = "on" if outcome.defence else "off"
    lines = [
        "",
        f"Attack {attack.key} · {attack.title} · defence {attack.defence} {state}",
        wrapped(f"The attacker {attack.does}.", width, ""),
        "",
        f"Result: {outcome.result.upper()}: {outcome.summary}",
        "",
        "What the attacker did and saw",
    ]
    lines += [wrapped(fact, width, "  ") for fact in outcome.facts]
    if outcome.broker_log:
        lines += ["", "The broker's log about the attacker"]
        lines += [wrapped(line, width, "  ") for line in outcome.broker_log]
    lines += ["", f"The defence ({attack.defence}): {attack.stops}."]
    return "\n".join(lines)
