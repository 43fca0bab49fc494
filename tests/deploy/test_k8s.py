"""`iotsim-tui deploy k8s`: the manifest is valid Kubernetes (checked against the schemas that
kubernetes-validate ships, offline), and its pods run the shards that cover the profile."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from iotsim_tui.cli import main
from iotsim_tui.deploy.image import SOURCES
from iotsim_tui.deploy.yaml_text import dump

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "profiles" / "nde_finance_lab.toml"
FLEET = """\
# A fleet for a cluster's broker: "quoted", and a tab\there.
[network]
name = "FLEET_LOAD"

[network.broker]
host = "emqx.mqtt.svc"

[[templates]]
name = "Sensor {n}"
id = "S{n}"
count = 100000
"""


def _deploy(tmp_path: Path, profile: Path, *options: str) -> list[dict[str, object]]:
    out = tmp_path / "k8s"
    assert main(["deploy", "k8s", str(profile), "--out", str(out), *options]) == 0
    (manifest,) = out.glob("*.yaml")
    return list(yaml.safe_load_all(manifest.read_text()))


def _fleet(tmp_path: Path) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(FLEET)
    return path


def _pod(job: dict[str, object]) -> dict[str, object]:
    return job["spec"]["template"]["spec"]  # type: ignore[index,no-any-return]


def test_the_manifest_passes_the_kubernetes_schema(tmp_path: Path) -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    documents = _deploy(
        tmp_path,
        _fleet(tmp_path),
        "--shards",
        "6",
        "--certs-secret",
        "fleet-certs",
        "--summaries-claim",
        "fleet-summaries",
    )
    assert [d["kind"] for d in documents] == ["ConfigMap", "Job"]
    for document in documents:
        kubernetes_validate.validate(document, "1.33", strict=True)


def test_the_schema_check_can_fail() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "x"},
        "spec": {"completionMode": "Indexed", "completions": "six", "template": {}},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(job, "1.33", strict=True)


def test_an_indexed_job_of_one_pod_per_shard_against_the_broker(tmp_path: Path) -> None:
    config_map, job = _deploy(
        tmp_path, _fleet(tmp_path), "--shards", "6", "--image", "registry.example/iot:1"
    )
    assert config_map["data"] == {"fleet.toml": FLEET}  # the profile, byte for byte
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == (
        "Indexed",
        6,
        6,
    )
    assert spec["backoffLimit"] == 0
    (container,) = _pod(job)["containers"]
    assert container["image"] == "registry.example/iot:1"
    script = container["command"][2]
    assert "shard=$((JOB_COMPLETION_INDEX + 1))" in script
    assert (
        "iotsim-tui run /work/profiles/fleet.toml --shard $shard/6 --host emqx.mqtt.svc "
        '--port 1883 --no-broker --duration 300 --summary "$summary"'
    ) in script
    assert container["resources"]["requests"]["memory"] == "512Mi"  # 16,667 x 20 KB + base
    volumes = {v["name"]: v for v in _pod(job)["volumes"]}
    assert volumes["profile"]["configMap"]["name"] == config_map["metadata"]["name"]


def test_each_pods_script_runs_its_own_shard_and_shows_the_summary(tmp_path: Path) -> None:
    _, job = _deploy(
        tmp_path, _fleet(tmp_path), "--shards", "3", "--broker", "mqtt.cluster.local:1884"
    )
    script = _pod(job)["containers"][0]["command"][2]
    # The script, run by sh as a pod would, with a stand-in for iotsim-tui on the PATH that
    # records its arguments and writes a summary where it was told to.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "iotsim-tui"
    fake.write_text(
        '#!/bin/sh\necho "$@" >> "$ARGS"\n'
        'while [ "$1" != --summary ]; do shift; done\necho \'{"devices": 1}\' > "$2"\n'
    )
    fake.chmod(0o755)
    summaries = tmp_path / "summaries"
    summaries.mkdir()
    script = script.replace("/summaries/", f"{summaries}/")
    args_file = tmp_path / "args"
    for index in range(3):
        result = subprocess.run(
            ["sh", "-c", script],
            env={
                "PATH": f"{bin_dir}:/usr/bin:/bin",
                "JOB_COMPLETION_INDEX": str(index),
                "ARGS": str(args_file),
            },
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        assert f"--- iotsim-tui summary of shard {index + 1}/3 ---" in result.stdout
        assert '{"devices": 1}' in result.stdout
    runs = args_file.read_text().splitlines()
    assert [run.split("--shard ")[1].split()[0] for run in runs] == ["1/3", "2/3", "3/3"]
    assert all("--host mqtt.cluster.local --port 1884" in run for run in runs)
    assert sorted(p.name for p in summaries.iterdir()) == [
        "shard-1-of-3.json",
        "shard-2-of-3.json",
        "shard-3-of-3.json",
    ]


def test_certificates_and_summaries_are_mounted_when_given(tmp_path: Path) -> None:
    _, job = _deploy(
        tmp_path,
        _fleet(tmp_path),
        "--shards",
        "2",
        "--certs-secret",
        "fleet-certs",
        "--summaries-claim",
        "fleet-summaries",
    )
    volumes = {v["name"]: v for v in _pod(job)["volumes"]}
    assert volumes["certs"]["secret"]["secretName"] == "fleet-certs"
    assert volumes["summaries"]["persistentVolumeClaim"]["claimName"] == "fleet-summaries"
    mounts = {m["name"]: m["mountPath"] for m in _pod(job)["containers"][0]["volumeMounts"]}
    assert mounts["certs"] == "/work/certs"  # where the profile's certs/... paths point


def test_a_local_broker_needs_the_clusters_address(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deploy", "k8s", str(LAB), "--shards", "1", "--out", str(tmp_path)]) == 2
    assert "give --broker HOST:PORT" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("options", "said"),
    [
        (["--shards", "0"], "--shards 0"),
        (["--shards", "2"], "has 1 device, fewer than shards"),
        (["--shards", "1", "--name", "Bad_Name"], "--name 'Bad_Name'"),
        (["--shards", "1", "--duration", "0"], "--duration 0"),
    ],
)
def test_bad_options_are_refused(
    tmp_path: Path, options: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["deploy", "k8s", str(LAB), "--broker", "b:1883", "--out", str(tmp_path), *options])
    assert code == 2
    assert said in capsys.readouterr().err


def test_too_many_devices_per_shard_is_said(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _deploy(tmp_path, _fleet(tmp_path), "--shards", "4")
    error = capsys.readouterr().err
    assert "25,000 devices per shard" in error
    assert "use --shards 5 or more" in error


def test_the_dockerfile_builds_from_files_the_project_has(tmp_path: Path) -> None:
    _deploy(tmp_path, _fleet(tmp_path), "--shards", "6")
    text = (tmp_path / "k8s" / "Dockerfile").read_text()
    copied = [line.split()[1] for line in text.splitlines() if line.startswith("COPY ")]
    assert copied == list(SOURCES)
    for path in copied:
        assert (ROOT / path).exists(), path
    assert 'ENTRYPOINT ["iotsim-tui"]' in text
    assert "USER 10001" in text  # the user the Job's pods run as


@pytest.mark.parametrize(
    "value",
    [
        {"a": "one\ntwo\n", "b": ["x", {"c": 1, "d": [True, None]}], "e": {}},
        {"text": "  leading spaces\nkept\n", "f": "ends without newline\nhere"},
        {"odd key": "trailing space \nline", "g": "tab\there\nand: colon # hash\n"},
        {"list": [["nested"], [], {"k": "v"}], "quote": 'say "hi"\n\n'},
    ],
)
def test_the_yaml_reads_back_as_written(value: dict[str, object]) -> None:
    assert yaml.safe_load(dump(value)) == value  # type: ignore[arg-type]
