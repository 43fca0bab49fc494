"""The eavesdrop pane in a tiny app, fed by a real relay between the engine and mosquitto.

Story steps 6 and 7: the broker console sends an alert to TS1; in clear the pane shows its
topic and text, over TLS it shows only records.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Input, Static

from iotsim_tui.engine import Simulation
from iotsim_tui.engine.views import SubscriptionView
from iotsim_tui.profiles.model import BrokerSettings, Device, Network, Subscription, TLSSettings
from iotsim_tui.tui.screens.eavesdrop import EavesdropScreen
from iotsim_tui.tui.screens.files import default_capture_path
from iotsim_tui.tui.widgets import eavesdrop as eavesdrop_widget
from iotsim_tui.tui.widgets.eavesdrop import PLAIN_BANNER, TLS_BANNER, EavesdropPane
from iotsim_tui.tui.widgets.packet_list import PacketList
from iotsim_tui.wiretap import Direction, Eavesdrop, Field, WireItem
from tests.support.certs import make_cert_dir
from tests.support.mosquitto import mosquitto_path, run_mosquitto
from tests.tui.pilot import wait_for
from tests.wiretap.sessions import expert_warnings, tshark

ALERT = "Alert for High Temperature"
SECOND_ALERT = "This is second alert for High Temperature"


@dataclass(frozen=True)
class Broker:
    """Mosquitto with a plain listener (the broker console's) and a TLS one."""

    host: str
    port: int
    tls_port: int
    certs: Path


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    if mosquitto_path() is None:
        pytest.skip("mosquitto is not installed (apt-get install mosquitto)")
    certs = make_cert_dir(tmp_path)
    # As root, mosquitto would drop to a user who cannot read the 0700 certificate folder.
    stay = f"user {getpass.getuser()}\n"
    with run_mosquitto(tmp_path, certs=certs, extra_config=stay) as running:
        assert running.tls_port is not None
        yield Broker(running.host, running.port, running.tls_port, certs)


class PaneApp(App[int]):
    """Just the pane, as the app places it."""

    def __init__(self, tap: Eavesdrop) -> None:
        super().__init__()
        self.tap = tap

    def compose(self) -> ComposeResult:
        yield EavesdropPane(self.tap, network="NDE_FINANCE_NETWORK")


def lab_network(broker: Broker, *, tls: bool) -> Network:
    if tls:
        settings = BrokerSettings(
            host=broker.host,
            port=broker.tls_port,
            bundled=False,
            tls=TLSSettings(enabled=True, ca=str(broker.certs / "ca.crt")),
        )
    else:
        settings = BrokerSettings(host=broker.host, port=broker.port, bundled=False)
    device = Device(
        name="Temperature_Sensor", id="TS1", subscribe=(Subscription("High_Tempe", qos=1),)
    )
    return Network(name="NDE_FINANCE_NETWORK", broker=settings, devices=(device,))


async def send_alert(pilot: Pilot[int], broker: Broker, tap: Eavesdrop, *, tls: bool) -> None:
    """Start TS1 through the relay, send the alert from the console, wait until TS1 has it."""
    message = SECOND_ALERT if tls else ALERT
    async with Simulation(lab_network(broker, tls=tls), endpoint=tap.endpoint) as simulation:
        await simulation.start()

        def subscription() -> SubscriptionView:
            return simulation.device("TS1").subscriptions[0]

        await wait_for(pilot, lambda: subscription().since is not None, "TS1's SUBACK")
        async with aiomqtt.Client(broker.host, broker.port, identifier="console") as console:
            await console.publish("High_Tempe", message, qos=1)
        await wait_for(pilot, lambda: subscription().count == 1, "TS1 gets the alert")
        assert subscription().last_payload == message.encode()


async def run_story(broker: Broker, tap: Eavesdrop, *, tls: bool) -> str:
    """The story step in a fresh pane; returns what the pane shows."""
    app = PaneApp(tap)
    async with app.run_test(size=(160, 50)) as pilot:
        pane = app.query_one(EavesdropPane)
        await send_alert(pilot, broker, tap, tls=tls)
        await wait_for(pilot, lambda: len(pane.items) >= 6, "packets in the pane")
        return await shown_text(pilot, pane, SECOND_ALERT if tls else ALERT)


async def shown_text(pilot: Pilot[int], pane: EavesdropPane, message: str) -> str:
    """The pane's banner, its lines, and the detail of the line that carries `message`."""
    packets = pane.packets
    first = packets.oldest or 0
    numbers = range(first, first + packets.row_count)
    lines = [packets.text(number) for number in numbers]
    packets.focus()
    for number, line in zip(numbers, lines, strict=True):
        if message in line:
            pane.highlight(number)
            await wait_for(pilot, lambda n=number: pane.packets.cursor == n, "the highlight")
    detail = str(pane.query_one("#eavesdrop-detail", Static).content)
    return "\n".join([pane.banner, *lines, detail])


@pytest.mark.slow
async def test_in_clear_the_pane_shows_the_alert_and_says_so(broker: Broker) -> None:
    async with Eavesdrop(target=(broker.host, broker.port)) as tap:
        shown = await run_story(broker, tap, tls=False)
    assert PLAIN_BANNER in shown
    assert f"PUBLISH High_Tempe: {ALERT}" in shown
    assert "CONNECT client id TS1" in shown
    assert f"Payload: {len(ALERT)} bytes: {ALERT}" in shown  # the detail of that PUBLISH


@pytest.mark.slow
async def test_over_tls_the_pane_shows_only_records(broker: Broker) -> None:
    async with Eavesdrop(target=(broker.host, broker.tls_port)) as tap:
        shown = await run_story(broker, tap, tls=True)
    assert TLS_BANNER in shown
    assert PLAIN_BANNER not in shown
    assert "Client Hello" in shown
    assert "Application Data" in shown
    for secret in (SECOND_ALERT, "High_Tempe", "TS1", "MQTT"):
        assert secret not in shown


@pytest.mark.slow
async def test_one_capture_holds_the_story_in_clear_then_over_tls(
    broker: Broker, tmp_path: Path
) -> None:
    pcap = tmp_path / "story.pcap"
    async with Eavesdrop(target=(broker.host, broker.port)) as tap:
        app = PaneApp(tap)
        async with app.run_test(size=(160, 50)) as pilot:
            pane = app.query_one(EavesdropPane)
            await send_alert(pilot, broker, tap, tls=False)
            await wait_for(pilot, lambda: PLAIN_BANNER in pane.banner, "the plain banner")
            tap.target = (broker.host, broker.tls_port)  # TLS enabled: the port is now 8883's
            await send_alert(pilot, broker, tap, tls=True)
            await wait_for(pilot, lambda: TLS_BANNER in pane.banner, "the TLS banner")
            assert pane.banner.endswith(f"(port {broker.tls_port})")
        tap.write_pcap(pcap)
    decode = ("-d", f"tcp.port=={broker.port},mqtt", "-d", f"tcp.port=={broker.tls_port},tls")
    messages = tshark(pcap, *decode, "-Y", "mqtt.msgtype == 3", "-T", "fields", "-e", "mqtt.msg")
    assert {bytes.fromhex(m.replace(":", "")).decode() for m in messages.split()} == {ALERT}
    ports = ("-T", "fields", "-e", "tcp.srcport", "-e", "tcp.dstport")
    records = tshark(pcap, *decode, "-Y", "tls.record.opaque_type == 23", *ports).splitlines()
    assert len(records) >= 4
    assert all(str(broker.tls_port) in line.split() for line in records)
    assert SECOND_ALERT.encode() not in pcap.read_bytes()
    assert expert_warnings(pcap, *decode) == []


async def test_the_pcap_key_asks_for_a_path_and_writes_the_file(tmp_path: Path) -> None:
    target = tmp_path / "out" / "lab.pcap"
    async with Eavesdrop(target=("127.0.0.1", 9), key_log=str(tmp_path / "keys.log")) as tap:
        app = PaneApp(tap)
        async with app.run_test() as pilot:
            assert "TLS key log on" in str(app.query_one("#eavesdrop-keylog", Static).content)
            await pilot.press("p")
            field = app.screen.query_one("#path", Input)
            assert field.value.startswith("captures/NDE_FINANCE_NETWORK-")
            field.value = str(target)
            await pilot.press("enter")
            await wait_for(pilot, target.exists, "the pcap file")
    assert target.read_bytes()[:4] == bytes.fromhex("d4c3b2a1")


async def test_the_screen_says_when_eavesdropping_is_off() -> None:
    network = Network(name="HEALTH_CARE")

    class ScreenApp(App[None]):
        def on_mount(self) -> None:
            self.push_screen(EavesdropScreen(network))

    app = ScreenApp()
    async with app.run_test() as pilot:
        await wait_for(pilot, lambda: app.screen.query("#eavesdrop-off"), "the view")
        text = str(app.screen.query_one("#eavesdrop-off", Static).content)
    assert "Eavesdropping is off" in text


def test_the_default_capture_path_is_safe_for_a_file_name() -> None:
    path = default_capture_path("NDE FINANCE/../x", now=0)
    assert path.parent == Path("captures")
    assert "/" not in path.name
    assert path.suffix == ".pcap"


def synthetic(n: int) -> WireItem:
    return WireItem(
        1,
        1_700_000_000.0 + n,
        Direction.TO_BROKER,
        "Data",
        f"Data, {n} bytes",
        (Field("Packet", f"number {n}"),),
        b"x",
        1,
    )


def detail_of(pane: EavesdropPane) -> str:
    return str(pane.query_one("#eavesdrop-detail", Static).content)


async def feed(pilot: Pilot[int], pane: EavesdropPane, numbers: range) -> None:
    """Add packets in batches of ten, letting the screen catch up after each."""
    for start in range(numbers.start, numbers.stop, 10):
        pane.add([synthetic(n) for n in range(start, min(start + 10, numbers.stop))])
        await pilot.pause()


def on_screen(app: App[int]) -> str:
    """The column titles and the packet lines the list draws right now."""
    packets = app.query_one(PacketList)
    titles = str(app.query_one("#eavesdrop-columns", Static).content)
    drawn = [packets.render_line(y).text for y in range(packets.content_region.height)]
    return "\n".join([titles, *drawn])


async def test_the_list_is_bounded_and_follows_the_newest_packets() -> None:
    async with Eavesdrop(target=("127.0.0.1", 9)) as tap:
        app = PaneApp(tap)
        async with app.run_test(size=(100, 30)) as pilot:
            pane = app.query_one(EavesdropPane)
            packets = pane.packets
            packets.max_rows = 50
            await feed(pilot, pane, range(120))
            assert packets.row_count == 50
            assert pane.items[0].summary == "Data, 70 bytes"
            assert packets.max_scroll_y > 0
            assert packets.scroll_y == packets.max_scroll_y
            assert packets.cursor == packets.newest == 120  # running numbers start at 1
            assert "number 119" in detail_of(pane)  # the detail follows the newest row
            screen = on_screen(app)
            assert "No.    Time         Dir     Protocol Summary" in screen
            assert "Data, 119 bytes" in screen
            assert "Data, 60 bytes" not in screen

            packets.scroll_home(animate=False, immediate=True)  # the mouse wheel, say
            await pilot.pause()
            assert not pane.following
            pane.add([synthetic(999)])
            await pilot.pause()
            assert packets.scroll_y == 0  # the user scrolled up: the view stays put
            assert pane.highlighted == synthetic(119)
            assert "number 119" in detail_of(pane)
            assert "Data, 71 bytes" in on_screen(app)


async def test_the_detail_follows_the_highlighted_row_and_the_user_keeps_theirs() -> None:
    async with Eavesdrop(target=("127.0.0.1", 9)) as tap:
        app = PaneApp(tap)
        async with app.run_test(size=(100, 30)) as pilot:
            pane = app.query_one(EavesdropPane)
            packets = pane.packets
            packets.max_rows = 60
            await feed(pilot, pane, range(40))
            assert pane.following
            assert pane.highlighted == synthetic(39)
            assert "number 39" in detail_of(pane)

            await pilot.press("up", "up", "up")  # the user looks at an older packet
            await wait_for(pilot, lambda: "number 36" in detail_of(pane), "packet 36's detail")
            assert not pane.following
            position = packets.scroll_y
            await feed(pilot, pane, range(40, 80))  # 20 of the oldest rows are dropped
            assert pane.highlighted == synthetic(36)
            assert "number 36" in detail_of(pane)
            assert packets.scroll_y == max(position - 20, 0)  # same packets in view
            assert "Data, 36 bytes" in on_screen(app)
            await pilot.press("down")
            await wait_for(pilot, lambda: "number 37" in detail_of(pane), "packet 37's detail")

            await pilot.press("f")  # follow again
            await wait_for(pilot, lambda: "number 79" in detail_of(pane), "the newest detail")
            assert pane.following
            await feed(pilot, pane, range(80, 100))
            assert pane.highlighted == synthetic(99)
            assert "number 99" in detail_of(pane)
            assert packets.scroll_y == packets.max_scroll_y

            await pilot.press("up", "down")  # back onto the newest row by hand: following
            await wait_for(pilot, lambda: pane.following, "following again")
            await feed(pilot, pane, range(100, 110))
            assert pane.highlighted == synthetic(109)

            await pilot.press("home")
            await wait_for(pilot, lambda: "number 50" in detail_of(pane), "the oldest packet")
            assert packets.scroll_y == 0
            region = packets.content_region
            await pilot.click(PacketList, offset=(5, 3))  # the fourth line of the list
            await wait_for(pilot, lambda: "number 53" in detail_of(pane), "the clicked packet")
            assert region.height > 4


async def test_past_the_limit_each_new_packet_pushes_out_the_oldest() -> None:
    async with Eavesdrop(target=("127.0.0.1", 9)) as tap:
        app = PaneApp(tap)
        async with app.run_test(size=(100, 30)) as pilot:
            pane = app.query_one(EavesdropPane)
            full = eavesdrop_widget.MAX_ROWS
            pane.add([synthetic(n) for n in range(full)])
            for start in range(full, full + 2000, 100):
                pane.add([synthetic(n) for n in range(start, start + 100)])
            await pilot.pause()
            packets = pane.packets
            assert packets.row_count == full
            assert (packets.oldest, packets.newest) == (2001, full + 2000)
            assert pane.items[0] == synthetic(2000)
            assert pane.highlighted == synthetic(full + 1999)
            assert f"Data, {full + 1999} bytes" in on_screen(app)
