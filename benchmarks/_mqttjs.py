"""MQTT.js as a reference: N clients in one node process, each publishing once a second.

`npm install mqtt` runs into a temporary folder at benchmark time (npm's cache makes it work
offline once it has been fetched); without node or npm, or when the install fails, the
reference is skipped and `install` says why.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

INSTALL_TIMEOUT = 180.0

SCRIPT = r"""
// argv: port, number of clients. Each client publishes a small JSON payload (a random walk
// and a counter) once a second at QoS 0, as the engine's benchmark devices do.
const mqtt = require("mqtt");
const port = Number(process.argv[2]);
const count = Number(process.argv[3]);
const BATCH = 200;  // clients started per 20 ms: a ramp, as the engine's own

function start(index) {
  const client = mqtt.connect({
    host: "127.0.0.1", port, clientId: `js-S${index}`, keepalive: 60, reconnectPeriod: 0,
  });
  client.on("error", () => {});
  client.once("connect", () => {
    let seq = 0;
    let temperature = 15 + Math.random() * 20;
    const topic = `bench/S${index}/t`;
    setTimeout(() => {
      setInterval(() => {
        temperature = Math.min(35, Math.max(15, temperature + (Math.random() - 0.5)));
        const payload = JSON.stringify({
          temperature: Math.round(temperature * 10) / 10, seq: seq++,
        });
        client.publish(topic, payload, { qos: 0 });
      }, 1000);
    }, Math.random() * 1000);
  });
}

let next = 0;
const ramp = setInterval(() => {
  for (let i = 0; i < BATCH && next < count; i++) start(next++);
  if (next >= count) clearInterval(ramp);
}, 20);
"""


def install(workdir: Path) -> tuple[Path | None, str]:
    """A folder with MQTT.js installed and the load script, or None and why not."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        return None, "MQTT.js skipped: node or npm is not installed"
    folder = workdir / "mqttjs"
    folder.mkdir(exist_ok=True)
    try:
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefer-offline", "mqtt@5"],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None, "MQTT.js skipped: `npm install mqtt` timed out (offline?)"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return None, f"MQTT.js skipped: `npm install mqtt` failed ({last})"
    (folder / "load.js").write_text(SCRIPT)
    return folder, f"MQTT.js {version(folder)}"


def version(folder: Path) -> str:
    """The installed MQTT.js version."""
    package = folder / "node_modules" / "mqtt" / "package.json"
    return str(json.loads(package.read_text())["version"])


def start(folder: Path, port: int, count: int) -> subprocess.Popen[str]:
    """The node process running `count` publishing clients against 127.0.0.1:`port`."""
    node = shutil.which("node")
    assert node is not None
    return subprocess.Popen(
        [node, "load.js", str(port), str(count)],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
