"""What each attacker does once the scene is set, and the facts it reports (with counts).

Every move is bounded in time (`WATCH` seconds of listening, `GUESS_SECONDS` of guessing,
`FLOOD_SECONDS` and `FLOOD_COUNT` of flooding) and in what it keeps.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable

from iotsim_tui.engine.events import DeviceStatus
from iotsim_tui.lab.attack_run import MAX_DEVICES, Scene, word_position
from iotsim_tui.lab.attacker import Attacker, ConnectRefused, Received, code_text
from iotsim_tui.lab.attacks import WORDS, AttackOutcome
from iotsim_tui.profiles.expand import devices_of
from iotsim_tui.protocol.codec import encode
from iotsim_tui.protocol.packets import Publish
from iotsim_tui.protocol.reasons import MQTTVersion

WATCH = 3.0
"""Seconds an eavesdropping attacker listens at most."""
GUESS_SECONDS = 6.0
"""Seconds the password guesser tries at most."""
FLOOD_SECONDS = 2.0
FLOOD_COUNT = 20_000
FLOOD_PAYLOAD = b'{"celsius": 999, "attacker": "flood"}'
PROBE_EVERY = 0.1
PROBE_TOPIC = "iotsim/lab/latency-probe"
POISON = "ATTACK: Alert for High Temperature, open all valves"
SHOWN = 8
"""Topics, client ids or samples listed in a fact at most."""


def _sample(payload: bytes) -> str:
    text = payload.decode("utf-8", "replace")
    return text if len(text) <= 60 else text[:57] + "..."


def _listing(items: list[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _outcome(
    scene: Scene, attacker: str, ok: bool, summary: str, facts: list[str], data: int = 0
) -> AttackOutcome:
    return AttackOutcome(scene.attack, scene.defence, ok, summary, tuple(facts), data, attacker)


def _device_topics(scene: Scene) -> list[str]:
    """The target's telemetry topics, filled in (what an eavesdropper wants to read)."""
    device = scene.target
    return [
        t.topic.replace("{id}", device.id).replace("{name}", device.name) for t in device.telemetry
    ]


def _all_telemetry(scene: Scene) -> list[str]:
    """Every started device's telemetry topics, filled in."""
    found: list[str] = []
    for device in devices_of(scene.network)[:MAX_DEVICES]:
        for telemetry in device.telemetry:
            topic = telemetry.topic.replace("{id}", device.id).replace("{name}", device.name)
            if topic not in found:
                found.append(topic)
    return found


def _command_topic(scene: Scene) -> str:
    from iotsim_tui.errors import UsageError

    device = scene.target
    filters = [s.topic for s in device.subscribe] + [c.topic for c in device.commands]
    for topic_filter in filters:
        topic = topic_filter.replace("{id}", device.id).replace("{name}", device.name)
        if "+" not in topic and "#" not in topic:
            return topic
    raise UsageError(f"{device.id} subscribes to no command topic without wildcards to attack")


def _is_device_data(scene: Scene, message: Received) -> bool:
    return not message.topic.startswith("$") and message.topic != PROBE_TOPIC


async def anonymous(scene: Scene) -> AttackOutcome:
    """Connect with no credentials and read the devices' telemetry."""
    attacker = Attacker(scene.endpoint, "anonymous")
    try:
        await attacker.connect()
    except ConnectRefused as refused:
        return _outcome(
            scene,
            attacker.client_id,
            False,
            f"{refused.reason}: the broker wants a user name and password",
            [
                f"{attacker.client_id} connected with no user name: {refused.reason}",
                "the attacker read 0 device messages",
            ],
        )
    async with attacker:
        topics = _all_telemetry(scene) or [_command_topic(scene)]
        codes = await attacker.subscribe(topics)
        await scene.until(lambda: attacker.inbox.count >= 3, WATCH)
        read = [m for m in attacker.inbox.kept if _is_device_data(scene, m)]
    facts = [
        f"{attacker.client_id} connected with no user name or password (CONNACK 0x00)",
        "subscribed: " + ", ".join(f"{t} {code_text(c)}" for t, c in codes.items()),
        f"read {attacker.inbox.count} device message(s) in at most {WATCH:g} s",
    ]
    facts += [f"sample: {m.topic} {_sample(m.payload)}" for m in read[:3]]
    return _outcome(
        scene,
        attacker.client_id,
        True,
        f"got in anonymously and read {attacker.inbox.count} device message(s)",
        facts,
        attacker.inbox.count,
    )


async def wildcard(scene: Scene) -> AttackOutcome:
    """Subscribe to # and $SYS/#: list topics, client ids and payload samples."""
    async with Attacker(scene.endpoint, "wildcard") as attacker:
        codes = await attacker.subscribe(["#", "$SYS/#"])
        granted = [f for f, c in codes.items() if c is not None and c < 0x80]
        said = ", ".join(f"{f} {code_text(c)}" for f, c in codes.items())
        if not granted:
            return _outcome(
                scene,
                attacker.client_id,
                False,
                f"SUBACK {said}",
                [
                    f"{attacker.client_id} subscribed: {said}",
                    "the attacker learnt 0 topics and read 0 device messages",
                ],
            )
        wanted = set(_device_topics(scene))

        def learnt_enough() -> bool:
            topics = {m.topic for m in attacker.inbox.kept}
            return wanted <= topics and "$SYS/iotsim/clients" in topics

        await scene.until(learnt_enough, WATCH)
    kept = attacker.inbox.kept
    device = [m for m in kept if _is_device_data(scene, m)]
    topics = sorted({m.topic for m in device})
    sys_topics = sorted({m.topic for m in kept if m.topic.startswith("$SYS")})
    clients = _client_ids(kept)
    facts = [
        f"{attacker.client_id} subscribed: {said}",
        f"learnt {len(topics)} device topic(s): {_listing(topics)}",
        f"learnt {len(clients)} client id(s) from $SYS/iotsim/clients: {_listing(clients)}",
        f"{len(sys_topics)} $SYS topic(s) of the broker's statistics",
    ]
    facts += [f"sample: {m.topic} {_sample(m.payload)}" for m in device[:3]]
    return _outcome(
        scene,
        attacker.client_id,
        True,
        f"enumerated {len(topics)} topic(s), {len(clients)} client id(s), "
        f"{len(device)} device message(s)",
        facts,
        len(device),
    )


def _client_ids(kept: list[Received]) -> list[str]:
    for message in reversed(kept):
        if message.topic == "$SYS/iotsim/clients":
            try:
                document = json.loads(message.payload)
                return sorted(str(c.get("id")) for c in document.get("clients", []))
            except (ValueError, AttributeError, TypeError):
                return []
    return []


async def takeover(scene: Scene) -> AttackOutcome:
    """Connect as the first device: throw it off and receive its commands."""
    client_id = scene.client_id
    user, password = scene.login if scene.login is not None else (None, None)
    attacker = Attacker(
        scene.endpoint,
        "takeover",
        client_id=client_id,
        username=user,
        password=password,
        tls=scene.attacker_tls,
    )
    name = "attacker (certificate CN attacker-takeover)" if scene.attacker_tls else "attacker"
    try:
        await attacker.connect()
    except ConnectRefused as refused:
        await asyncio.sleep(0)
        status = scene.status_of(scene.target.id).value
        return _outcome(
            scene,
            name,
            False,
            f"takeover refused: {refused.reason}: the client id {client_id} is not "
            "the name in the attacker's certificate",
            [
                f"the {name} asked for client id {client_id}: {refused.reason}",
                f"{scene.target.id} stayed {status}",
                "the attacker received 0 commands",
            ],
        )
    async with attacker:
        topic = _command_topic(scene)
        codes = await attacker.subscribe([topic])
        console = Attacker(
            scene.endpoint, "", client_id="iotsim-lab-console", username=user, password=password
        )
        async with console:
            await console.publish(topic, b"Alert for High Temperature", qos=1)
        await scene.until(lambda: attacker.inbox.count >= 1, WATCH)
        thrown = [
            s
            for s in scene.statuses
            if s.device_id == scene.target.id and s.status is not DeviceStatus.CONNECTED
        ]
    got = [m for m in attacker.inbox.kept if m.topic == topic]
    facts = [
        f"the {name} connected as {client_id} (CONNACK 0x00)"
        + (" with the devices' shared user name and password" if user else ""),
        f"{scene.target.id} was thrown off: " + (thrown[0].detail if thrown else "not seen"),
        f"subscribed to {topic}: {code_text(codes.get(topic))}",
        f"received {len(got)} command(s) meant for {scene.target.id}"
        + (f": {_sample(got[0].payload)}" if got else ""),
    ]
    return _outcome(
        scene,
        client_id,
        bool(got or thrown),
        f"took over {client_id}: {len(got)} command(s) meant for it reached the attacker",
        facts,
        len(got),
    )


async def retained(scene: Scene) -> AttackOutcome:
    """Leave a retained alert on the target's command topic; restart the target."""
    topic = _command_topic(scene)
    target = scene.target.id
    async with Attacker(scene.endpoint, "retained") as attacker:
        code = await attacker.publish(topic, POISON.encode(), qos=1, retain=True)
    scene.received.clear()
    await scene.simulation.stop([target])
    await scene.simulation.start([target])
    await scene.until(lambda: scene.settled([target]), 10.0)
    await scene.until(lambda: any(m.payload == POISON.encode() for m in scene.received), 1.5)
    hit = [m for m in scene.received if m.device_id == target and m.payload == POISON.encode()]
    facts = [
        f"{attacker.client_id} published a retained {POISON!r} on {topic}: PUBACK "
        f"{code_text(code)}",
        f"{target} reconnected and received it {len(hit)} time(s)",
    ]
    if hit:
        return _outcome(
            scene,
            attacker.client_id,
            True,
            f"{target} received the attacker's retained command on reconnect",
            facts,
        )
    return _outcome(
        scene,
        attacker.client_id,
        False,
        f"retained write denied: PUBACK {code_text(code)}; {target} received nothing",
        facts,
    )


async def spoof_status(scene: Scene) -> AttackOutcome:
    """Publish a retained 'offline' on the target's will topic while it is connected."""
    from iotsim_tui.errors import UsageError

    device = scene.target
    if device.will is None:
        raise UsageError(
            f"{device.id} has no will (status) topic to spoof: give it a [devices.will]"
        )
    topic = device.will.topic.replace("{id}", device.id).replace("{name}", device.name)
    payload = device.will.payload.encode()
    async with Attacker(scene.endpoint, "spoof_status") as attacker:
        code = await attacker.publish(topic, payload, qos=1, retain=True)
    async with Attacker(
        scene.endpoint,
        "",
        client_id="iotsim-lab-observer",
        username=scene.login[0] if scene.login else None,
        password=scene.login[1] if scene.login else None,
    ) as observer:
        await observer.subscribe([topic])
        await scene.until(lambda: observer.inbox.count >= 1, 1.0)
    seen = [m.payload for m in observer.inbox.kept if m.topic == topic]
    status = scene.status_of(device.id).value
    facts = [
        f"{attacker.client_id} published a retained {payload.decode()!r} on {topic}: PUBACK "
        f"{code_text(code)}",
        f"{device.id} is {status}",
    ]
    if payload in seen and code is not None and code < 0x80:
        facts.append(f"a new subscriber of {topic} is told {payload.decode()!r} (retained)")
        return _outcome(
            scene,
            attacker.client_id,
            True,
            f"every new subscriber of {topic} reads {payload.decode()!r} while "
            f"{device.id} is {status}",
            facts,
        )
    facts.append(f"a new subscriber of {topic} read no spoofed status")
    return _outcome(
        scene, attacker.client_id, False, f"write denied: PUBACK {code_text(code)}", facts
    )


async def brute_force(scene: Scene) -> AttackOutcome:
    """Try the word list's passwords against the devices' user name, bounded in time."""
    assert scene.login is not None
    user, secret = scene.login
    began = time.monotonic()
    attempts = 0
    hit_after: float | None = None
    last = ""
    client_id = "attacker-brute_force"
    for word in WORDS:
        left = GUESS_SECONDS - (time.monotonic() - began)
        if left <= 0:
            break
        attempts += 1
        attacker = Attacker(scene.endpoint, "brute_force", username=user, password=word)
        try:
            await asyncio.wait_for(attacker.connect(), left)
        except ConnectRefused as refused:
            last = refused.reason
            continue
        except TimeoutError:
            await attacker.close()
            last = "no answer before the time ran out (the broker was making it wait)"
            break
        await attacker.close()
        hit_after = time.monotonic() - began
        break
    elapsed = time.monotonic() - began
    rate = attempts / elapsed if elapsed > 0 else 0.0
    facts = [
        f"{client_id}: {attempts} password(s) tried for user {user!r} in {elapsed:.1f} s "
        f"({rate:.1f} per second)",
    ]
    position = word_position(secret)
    if hit_after is not None:
        facts.append(f"the password was found after {attempts} attempt(s), {hit_after:.2f} s")
        return _outcome(
            scene,
            client_id,
            True,
            f"guessed the password in {attempts} attempt(s), {hit_after:.2f} s "
            f"({rate:.1f} per second)",
            facts,
        )
    if last:
        facts.append(f"the last refusal: {last}")
    where = f"it is word {position} of {len(WORDS)}" if position else "it is not in the word list"
    return _outcome(
        scene,
        client_id,
        False,
        f"login slowed down: {attempts} attempt(s) in {elapsed:.1f} s "
        f"({rate:.1f} per second), the password not reached ({where})",
        facts,
    )


async def flood(scene: Scene) -> AttackOutcome:
    """Flood a device topic; measure a probe's delivery latency before and during."""
    topics = _device_topics(scene)
    topic = topics[0] if topics else _command_topic(scene)
    user, password = scene.login if scene.login is not None else (None, None)

    def client(name: str) -> Attacker:
        return Attacker(
            scene.endpoint, "", client_id=f"iotsim-lab-{name}", username=user, password=password
        )

    async with (
        client("observer") as observer,
        client("counter") as counter,
        client("probe") as probe,
    ):
        await observer.subscribe([PROBE_TOPIC])
        await counter.subscribe([topic])
        before = await _probe(probe, observer, 8)
        counter.inbox.counted = FLOOD_PAYLOAD
        async with Attacker(scene.endpoint, "flood") as attacker:
            packet = encode(Publish(topic, FLOOD_PAYLOAD), MQTTVersion.V5)
            during_task = asyncio.create_task(_probe(probe, observer, 15))
            sent, seconds = await _flood(attacker, packet)
            await scene.until(lambda: False, max(0.0, FLOOD_SECONDS - seconds) + 0.3)
            passed = counter.inbox.hits
            seconds = max(seconds, FLOOD_SECONDS) + 0.3
            during = await during_task
            flood_id = attacker.client_id
    passed_rate = passed / max(seconds, 0.001)
    facts = [
        f"{flood_id} wrote {sent} message(s) on {topic} into its socket in {seconds:.1f} s "
        f"({sent / max(seconds, 0.001):.0f} per second)",
        f"the broker passed on {passed} of them ({passed_rate:.0f} per second)",
        f"delivery latency before: {_latency(before)}",
        f"delivery latency during: {_latency(during)}",
    ]
    limited = passed_rate <= 3 * 20.0
    if limited:
        return _outcome(
            scene,
            flood_id,
            False,
            f"rate limited: the broker took {passed_rate:.0f} messages per second "
            f"of the flood; latency during {_latency(during)}",
            facts,
        )
    return _outcome(
        scene,
        flood_id,
        True,
        f"flooded {passed} message(s) through ({passed_rate:.0f} per second); "
        f"latency during {_latency(during)}",
        facts,
    )


async def _flood(attacker: Attacker, packet: bytes) -> tuple[int, float]:
    """Write the flood in even batches over `FLOOD_SECONDS` (at most `FLOOD_COUNT` messages)."""
    began = time.monotonic()
    sent = 0
    batch = 100
    pause = FLOOD_SECONDS * batch / FLOOD_COUNT
    while sent < FLOOD_COUNT:
        left = FLOOD_SECONDS - (time.monotonic() - began)
        if left <= 0 or attacker.closed.is_set():
            break
        attacker.write_raw(packet * batch)
        sent += batch
        try:
            await asyncio.wait_for(attacker.drain(), left)
        except (TimeoutError, OSError):
            break
        await asyncio.sleep(max(0.0, began + pause * sent / batch - time.monotonic()))
    return sent, time.monotonic() - began


async def _probe(probe: Attacker, observer: Attacker, count: int) -> list[float]:
    """Publish `count` timed probes; the milliseconds each took to reach the observer."""
    latencies: list[float] = []
    for _ in range(count):
        sent = time.monotonic()
        mark = f"{sent:.6f}".encode()
        await probe.publish(PROBE_TOPIC, mark, qos=0)
        deadline = sent + 1.0
        while time.monotonic() < deadline:
            arrived = next((m for m in observer.inbox.kept if m.payload == mark), None)
            if arrived is not None:
                latencies.append((arrived.at - sent) * 1000)
                break
            observer.inbox.news.clear()
            try:
                await asyncio.wait_for(observer.inbox.news.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        observer.inbox.kept.clear()
        await asyncio.sleep(max(0.0, PROBE_EVERY - (time.monotonic() - sent)))
    return latencies


def _latency(values: list[float]) -> str:
    if not values:
        return "no probe arrived"
    middle, top = statistics.median(values), max(values)
    return f"median {middle:.1f} ms, max {top:.1f} ms ({len(values)} probes)"


MOVES: dict[str, Callable[[Scene], Awaitable[AttackOutcome]]] = {
    "anonymous": anonymous,
    "wildcard": wildcard,
    "takeover": takeover,
    "retained": retained,
    "spoof_status": spoof_status,
    "brute_force": brute_force,
    "flood": flood,
}
"""The move of each attack, by name."""
