"""A Kubernetes Indexed Job that runs one network's devices in N shards, one pod each.

The profile travels in a ConfigMap; pod i (JOB_COMPLETION_INDEX i-1) runs
`iotsim-tui run PROFILE --shard i/N --summary FILE` against the cluster's broker, writes its
summary to /summaries (a volume claim shared by the pods, or a scratch folder) and prints it
at the end of its log, after a marker line, so `kubectl logs` collects it too.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import iotsim_tui
from iotsim_tui.deploy.yaml_text import Value
from iotsim_tui.errors import UsageError

DEVICES_PER_POD = 20_000
"""Connections one process holds well (measured here); more per shard is allowed, but said."""
EPHEMERAL_PORTS = 28_000
"""Linux's default local port range (32768-60999): connections from one address to one
broker address and port."""
BYTES_PER_DEVICE = 20 * 1024
"""A device's memory in a shard, rounded up from ~19 KB measured (100,000 devices in 1.9 GB)."""
BASE_MEMORY = 150 * 1024 * 1024
"""The interpreter, the engine and the summary, before any device."""
SUMMARY_MARKER = "--- iotsim-tui summary of shard"
"""Starts the line after which a pod's log holds its JSON summary."""
WORK = "/work"


@dataclass(frozen=True)
class ShardedRun:
    """What the manifest runs: a profile in N shards against a broker."""

    profile: Path
    profile_text: str
    network: str
    devices: int
    shards: int
    broker: tuple[str, int]
    image: str = f"iotsim-tui:{iotsim_tui.__version__}"
    duration: float = 300.0
    name: str = ""
    """The Job's name; by default from the network's name."""
    certs_secret: str | None = None
    """A Secret with the profile's certificate files, mounted where the profile finds them."""
    summaries_claim: str | None = None
    """A ReadWriteMany volume claim for the summaries; else they are in the pods' logs only."""

    @property
    def profile_key(self) -> str:
        """The profile's file name in the ConfigMap (and in the pods' profiles/ folder)."""
        name = self.profile.name
        return name if re.fullmatch(r"[-._a-zA-Z0-9]{1,200}", name) else "profile.toml"

    @property
    def job_name(self) -> str:
        return self.name or job_name_for(self.network)

    @property
    def per_shard(self) -> int:
        """Devices of the largest shard."""
        return -(-self.devices // self.shards)

    def memory_request(self) -> str:
        """Memory a pod asks for: its devices and a base, in MiB."""
        mib = (self.per_shard * BYTES_PER_DEVICE + BASE_MEMORY) // (1024 * 1024)
        return f"{-(-mib // 64) * 64}Mi"

    def memory_limit(self) -> str:
        return f"{int(self.memory_request().removesuffix('Mi')) * 2}Mi"

    def warnings(self) -> list[str]:
        """What the sizing puts at risk, in plain words (empty when nothing)."""
        said = []
        if self.per_shard > DEVICES_PER_POD:
            said.append(
                f"{self.per_shard:,} devices per shard is more than the ~{DEVICES_PER_POD:,} "
                f"connections one process holds well: use --shards "
                f"{-(-self.devices // DEVICES_PER_POD)} or more"
            )
        if self.per_shard > EPHEMERAL_PORTS:
            said.append(
                f"{self.per_shard:,} connections from one pod to one broker address need more "
                f"than the {EPHEMERAL_PORTS:,} local ports Linux hands out by default"
            )
        return said


def job_name_for(network: str) -> str:
    """A Kubernetes name from a network's name: NDE_FINANCE_NETWORK -> nde-finance-network."""
    name = re.sub(r"[^a-z0-9]+", "-", network.lower()).strip("-")[:40].rstrip("-")
    return f"iotsim-{name or 'network'}"


def check_name(name: str) -> None:
    """Raise UsageError unless `name` can name the Job (and its pods' host names)."""
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,48}[a-z0-9])?", name):
        raise UsageError(
            f"--name {name!r}: a Job name is 1 to 50 lowercase letters, digits and '-', "
            "starting and ending with a letter or digit"
        )


def pod_script(run: ShardedRun) -> str:
    """The pod's shell script: raise the open-files limit, run the shard, show its summary."""
    host, port = run.broker
    count = run.shards
    profile = f"{WORK}/profiles/{run.profile_key}"
    command = [
        "iotsim-tui",
        "run",
        profile,
        "--shard",
        f"$shard/{count}",
        "--host",
        host,
        "--port",
        str(port),
        "--no-broker",
        "--duration",
        f"{run.duration:g}",
        "--summary",
        '"$summary"',
    ]
    words = " ".join(w if w.startswith(('"', "$")) else shlex.quote(w) for w in command)
    return "\n".join(
        [
            "# One connection per device: the open-files limit goes up to the hard limit.",
            'ulimit -n "$(ulimit -Hn)" 2>/dev/null || true',
            "shard=$((JOB_COMPLETION_INDEX + 1))",
            f'summary="/summaries/shard-$shard-of-{count}.json"',
            f"{words} && status=0 || status=$?",
            f'echo "{SUMMARY_MARKER} $shard/{count} ---"',
            'cat "$summary" 2>/dev/null || echo "no summary was written"',
            'exit "$status"',
            "",
        ]
    )


def manifest(run: ShardedRun) -> list[dict[str, Value]]:
    """The ConfigMap and the Indexed Job, as Kubernetes objects."""
    name = run.job_name
    labels: dict[str, Value] = {
        "app.kubernetes.io/name": "iotsim-tui",
        "app.kubernetes.io/instance": name,
    }
    config_map: dict[str, Value] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"{name}-profile", "labels": labels},
        "data": {run.profile_key: run.profile_text},
    }
    mounts: list[Value] = [
        {"name": "profile", "mountPath": f"{WORK}/profiles", "readOnly": True},
        {"name": "summaries", "mountPath": "/summaries"},
        {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 (the container's own, empty)
    ]
    volumes: list[Value] = [
        {"name": "profile", "configMap": {"name": f"{name}-profile"}},
        {
            "name": "summaries",
            **(
                {"persistentVolumeClaim": {"claimName": run.summaries_claim}}
                if run.summaries_claim
                else {"emptyDir": {}}
            ),
        },
        {"name": "tmp", "emptyDir": {}},
    ]
    if run.certs_secret:
        mounts.append({"name": "certs", "mountPath": f"{WORK}/certs", "readOnly": True})
        volumes.append({"name": "certs", "secret": {"secretName": run.certs_secret}})
    container: dict[str, Value] = {
        "name": "devices",
        "image": run.image,
        "workingDir": WORK,
        "command": ["sh", "-c", pod_script(run)],
        "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
        "resources": {
            "requests": {"cpu": "500m", "memory": run.memory_request()},
            "limits": {"memory": run.memory_limit()},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }
    job: dict[str, Value] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "completionMode": "Indexed",
            "completions": run.shards,
            "parallelism": run.shards,
            # A shard run twice would count its devices twice: no retries.
            "backoffLimit": 0,
            # The devices stop after --duration; this ends a run stuck past it.
            "activeDeadlineSeconds": int(run.duration) + 600,
            "ttlSecondsAfterFinished": 86_400,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    # Shards on different nodes where there are enough: each node's ports,
                    # memory and CPU are shared by the pods on it.
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": "kubernetes.io/hostname",
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": labels},
                        }
                    ],
                    "containers": [container],
                    "volumes": volumes,
                },
            },
        },
    }
    return [config_map, job]
