"""`iotsim-tui deploy k8s PROFILE --shards N`: a network's devices as a Kubernetes Indexed Job.

Writes `OUT/NAME.yaml` (a ConfigMap with the profile and the Job, one pod per shard) and
`OUT/Dockerfile` (the image the pods run). docs/scale-out.md walks through the whole run
against a clustered broker, and how to size the shards.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iotsim_tui.errors import UsageError
from iotsim_tui.words import counted


def parse_broker(text: str) -> tuple[str, int]:
    """`"emqx.mqtt.svc:1883"` -> `("emqx.mqtt.svc", 1883)`; `[::1]:1883` for IPv6."""
    host, colon, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not colon or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT, as in emqx.mqtt.svc:1883")
    return host, int(port)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `iotsim-tui deploy`."""
    targets = parser.add_subparsers(dest="target", metavar="TARGET", required=True)
    k8s = targets.add_parser(
        "k8s",
        help="a Kubernetes Indexed Job, one pod per shard, and the image's Dockerfile",
        description="Write a Kubernetes manifest (a ConfigMap with the profile, an Indexed "
        "Job whose pod i runs `iotsim-tui run PROFILE --shard i/N --summary ...`) and a "
        "Dockerfile for the image. Apply it with `kubectl apply -f OUT/NAME.yaml`; see "
        "docs/scale-out.md.",
    )
    k8s.add_argument("profile", type=Path, metavar="PROFILE", help="network profile (TOML)")
    k8s.add_argument(
        "--shards", type=int, required=True, metavar="N", help="pods, each with 1/N of devices"
    )
    k8s.add_argument(
        "--broker",
        type=parse_broker,
        metavar="HOST:PORT",
        help="the cluster's broker, as the pods reach it (default: the profile's, "
        "unless it is this machine)",
    )
    k8s.add_argument(
        "--image", metavar="IMAGE", help="the image to run (default iotsim-tui:VERSION)"
    )
    k8s.add_argument(
        "--duration",
        type=float,
        default=300.0,
        metavar="S",
        help="seconds the devices run in each pod (300)",
    )
    k8s.add_argument("--name", help="the Job's name (default: iotsim- and the network's name)")
    k8s.add_argument(
        "--certs-secret",
        metavar="SECRET",
        help="a Secret holding the profile's certificate files, mounted as certs/",
    )
    k8s.add_argument(
        "--summaries-claim",
        metavar="CLAIM",
        help="a ReadWriteMany volume claim the pods write their summaries to "
        "(default: each pod prints its summary at the end of its log)",
    )
    k8s.add_argument(
        "--out", type=Path, default=Path("k8s"), metavar="DIR", help="where to write (k8s/)"
    )


def run(args: argparse.Namespace) -> int:
    """Write the manifest and the Dockerfile; returns the exit code."""
    from iotsim_tui.deploy.image import dockerfile
    from iotsim_tui.deploy.k8s import ShardedRun, check_name, manifest
    from iotsim_tui.deploy.yaml_text import dump_documents
    from iotsim_tui.profiles.load import load_network

    network = load_network(args.profile)
    devices = len(network.devices) + sum(template.count for template in network.templates)
    if args.shards < 1:
        raise UsageError(f"--shards {args.shards}: give 1 or more")
    if args.shards > devices:
        raise UsageError(
            f"--shards {args.shards}: {args.profile} has {counted(devices, 'device')}, "
            "fewer than shards"
        )
    if args.duration <= 0:
        raise UsageError(f"--duration {args.duration:g}: give a number of seconds above 0")
    broker = args.broker or (network.broker.host, network.broker.effective_port)
    if args.broker is None and network.broker.is_local:
        raise UsageError(
            f"the profile's broker is {broker[0]}, this machine: give --broker HOST:PORT, "
            "the cluster's broker as the pods reach it"
        )
    if args.name is not None:
        check_name(args.name)
    options = {"image": args.image} if args.image else {}
    sharded = ShardedRun(
        profile=args.profile,
        profile_text=args.profile.read_text(encoding="utf-8"),
        network=network.name,
        devices=devices,
        shards=args.shards,
        broker=broker,
        duration=args.duration,
        name=args.name or "",
        certs_secret=args.certs_secret,
        summaries_claim=args.summaries_claim,
        **options,
    )
    out: Path = args.out
    try:
        out.mkdir(parents=True, exist_ok=True)
        manifest_path = out / f"{sharded.job_name}.yaml"
        manifest_path.write_text(dump_documents(manifest(sharded)), encoding="utf-8")
        (out / "Dockerfile").write_text(dockerfile(sharded.image, str(out)), encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot write to {out}: {error}") from None
    for warning in sharded.warnings():
        print(f"iotsim-tui deploy: warning: {warning}", file=sys.stderr)
    print(
        f"wrote {manifest_path} ({devices:,} devices in {args.shards} pods of up to "
        f"{sharded.per_shard:,}, against {broker[0]}:{broker[1]}) and {out / 'Dockerfile'}\n"
        f"next: docker build -f {out / 'Dockerfile'} -t {sharded.image} . && "
        f"docker push {sharded.image} && kubectl apply -f {manifest_path}"
    )
    return 0


__all__ = ["add_arguments", "parse_broker", "run"]
