"""The device, subscribe and telemetry dialogs, driven by keys as a user would."""

from __future__ import annotations

from dataclasses import replace

import pytest
from textual.widgets import Input, Select

from iotsim_tui.profiles.checks import Checker
from iotsim_tui.profiles.fields import parse_generator
from iotsim_tui.profiles.model import (
    Device,
    GeneratorKind,
    MessageProperties,
    Network,
    PayloadFormat,
    SubscribeOn,
    Subscription,
    Telemetry,
    TelemetryFormat,
    Trigger,
    ValueSpec,
)
from iotsim_tui.tui.screens._checks import profile_problems
from iotsim_tui.tui.screens._generators import params_text, parse_params
from iotsim_tui.tui.screens.device_form import DeviceScreen
from iotsim_tui.tui.screens.device_kinds import DEVICE_KINDS
from iotsim_tui.tui.screens.subscribe import SubscribeScreen
from iotsim_tui.tui.screens.telemetry import TelemetryScreen
from tests.tui.dialog_harness import (
    error_under,
    open_dialog,
    paste,
    screen_text,
    toggle,
    type_into,
)
from tests.tui.pilot import click_button, settle, wait_for

SENSOR = Device("Temperature_Sensor", "TS1", "Server room")
LAB = Network("NDE_FINANCE_NETWORK", devices=(SENSOR,))


async def test_add_device_returns_what_was_typed() -> None:
    async with open_dialog(DeviceScreen(Network("NDE_FINANCE_NETWORK"), None)) as (app, pilot):
        await paste(pilot, "Temperature_Sensor")
        await pilot.press("tab", *"TS1", "tab")
        await paste(pilot, "Server room")
        await pilot.press("enter")
        await settle(pilot)
    assert app.results == [SENSOR]


async def test_a_device_id_must_be_unique_in_the_network() -> None:
    async with open_dialog(DeviceScreen(LAB, None)) as (app, pilot):
        await type_into(pilot, "#name", "Other")
        await type_into(pilot, "#id", "TS1")
        assert error_under(app, "id") == "TS1 is already the id of Temperature_Sensor"
        await pilot.press("enter")
        await settle(pilot)
        assert app.results == []
        await type_into(pilot, "#id", "TS+1")
        assert "'+'" in error_under(app, "id")
        await type_into(pilot, "#id", "TS2")
        assert error_under(app, "id") == ""
        await pilot.press("enter")
        await settle(pilot)
    assert app.results == [Device("Other", "TS2")]


async def test_a_device_needs_a_name_and_an_id() -> None:
    async with open_dialog(DeviceScreen(LAB, None)) as (app, pilot):
        await pilot.press("enter")
        await settle(pilot)
        assert error_under(app, "name") == "a name is required"
        assert "needs an id" in error_under(app, "id")
        await pilot.press("escape")
        await settle(pilot)
    assert app.results == [None]


async def test_a_template_fills_name_free_id_and_telemetry() -> None:
    async with open_dialog(DeviceScreen(LAB, None)) as (app, pilot):
        app.screen.query_one("#kind").focus()
        await pilot.press("enter", "down", "enter")  # the first kind: temperature sensor
        await settle(pilot)
        await type_into(pilot, "#description", "Lobby")
        await pilot.press("enter")
        await settle(pilot)
    kind = DEVICE_KINDS[0]
    assert app.results == [Device("Temperature_Sensor", "TS2", "Lobby", telemetry=kind.telemetry())]


async def test_editing_keeps_the_id_and_what_the_dialog_does_not_show() -> None:
    device = replace(SENSOR, subscribe=(Subscription("High_Tempe"),))
    network = Network("n", devices=(device, Device("Other", "TS2")))
    async with open_dialog(DeviceScreen(network, device)) as (app, pilot):
        await type_into(pilot, "#description", "Server room 2")
        await pilot.press("enter")
        await settle(pilot)
    assert app.results == [replace(device, description="Server room 2")]


def test_every_built_in_kind_makes_a_valid_profile() -> None:
    devices = tuple(
        Device(kind.name, kind.free_id(()), kind.description, telemetry=kind.telemetry())
        for kind in DEVICE_KINDS
    )
    assert len({device.id for device in devices}) == len(devices)
    assert profile_problems(Network("kinds", devices=devices)) == []


async def test_subscribe_at_qos_1_is_saved_for_every_start() -> None:
    async with open_dialog(SubscribeScreen(SENSOR)) as (app, pilot):
        assert "Saved in the profile: TS1 subscribes every time it connects" in screen_text(app)
        await pilot.press(*"High_Tempe", "enter")
        await settle(pilot)
    assert app.results == [Subscription("High_Tempe", 1, on=SubscribeOn.START)]


async def test_subscribe_at_qos_2_to_a_filter_with_the_device_id() -> None:
    async with open_dialog(SubscribeScreen(SENSOR)) as (app, pilot):
        await paste(pilot, "alerts/+/{id}")
        await pilot.press("tab")
        await pilot.press("enter", "down", "enter")
        await settle(pilot)
        await pilot.click("#submit")
        await settle(pilot)
    assert app.results == [Subscription("alerts/+/{id}", qos=2)]


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("alerts/#/x", "'#' must be a whole level and the last one, as in 'a/b/#'"),
        ("alerts/a+", "'+' must be a whole level, as in 'a/+/c'"),
        ("High_Tempe", "TS1 already subscribes to High_Tempe"),
    ],
)
async def test_a_bad_topic_filter_is_explained(typed: str, message: str) -> None:
    device = replace(SENSOR, subscribe=(Subscription("High_Tempe"),))
    async with open_dialog(SubscribeScreen(device)) as (app, pilot):
        await pilot.press(*typed)
        await settle(pilot)
        assert error_under(app, "topic") == message
        await pilot.press("enter")
        await settle(pilot)
        assert app.results == []


async def test_an_empty_topic_filter_is_refused() -> None:
    async with open_dialog(SubscribeScreen(SENSOR)) as (app, pilot):
        await pilot.press("enter")
        await settle(pilot)
        assert error_under(app, "topic") == "a topic filter must not be empty"


SPECS = [
    ValueSpec(GeneratorKind.CONSTANT, value="C"),
    ValueSpec(GeneratorKind.CONSTANT, value=("a b", 1, True)),
    ValueSpec(GeneratorKind.INT, min=-5, max=5),
    ValueSpec(GeneratorKind.FLOAT, min=0.5, max=1.5, round=2),
    ValueSpec(GeneratorKind.WALK, min=15, max=35, step=0.5, start=22, round=1),
    ValueSpec(GeneratorKind.SEQUENCE, values=(1, 2, 3)),
    ValueSpec(GeneratorKind.CYCLE, values=("low", "true", "two words")),
    ValueSpec(GeneratorKind.CHOICE, values=(True, False)),
    ValueSpec(GeneratorKind.BOOL, probability=0.25),
    ValueSpec(GeneratorKind.TIMESTAMP, format="epoch_ms"),
    ValueSpec(GeneratorKind.COUNTER, start=10, step=-1),
    ValueSpec(GeneratorKind.FIELD, name="description"),
    ValueSpec(GeneratorKind.STATE, name="setpoint"),
    ValueSpec(GeneratorKind.SINE, period=86400, amplitude=3, base=21, phase=90, round=1),
    ValueSpec(GeneratorKind.GAUSSIAN, base=37, sigma=0.3, min=35, max=40),
    ValueSpec(GeneratorKind.ROUTE, waypoints=((48.85, 2.35), (48.86, 2.29)), speed=12.5),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda spec: spec.kind.value)
def test_generator_parameters_read_back_as_written(spec: ValueSpec) -> None:
    table, problem = parse_params(spec.kind, params_text(spec))
    assert problem is None
    checker = Checker("telemetry")
    assert parse_generator(checker, {"kind": spec.kind.value, **table}, (), ["setpoint"]) == spec
    assert checker.problems == []


async def test_telemetry_with_nested_values_opens_and_saves_unchanged() -> None:
    first, second = DEVICE_KINDS[0].telemetry()[0], DEVICE_KINDS[-1].telemetry()[0]
    assert any(not isinstance(value, ValueSpec) for value in second.fields.values())
    async with open_dialog(TelemetryScreen(SENSOR, first)) as (app, pilot):
        await pilot.press("enter")
        await app.push_screen(TelemetryScreen(SENSOR, second), app.results.append)
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
    assert app.results == [first, second]


async def test_jitter_birth_trigger_and_binary_layout_are_shown_typed_and_checked() -> None:
    kept = replace(
        DEVICE_KINDS[0].telemetry()[0],
        jitter=0.0,
        on_connect=True,
        publish_when=Trigger("temperature", change=0.5),
    )
    async with open_dialog(TelemetryScreen(SENSOR, kept), size=(100, 60)) as (app, pilot):
        assert app.screen.query_one("#jitter", Input).value == "0"
        assert app.screen.query_one("#when", Input).value == "field=temperature change=0.5"
        assert app.screen.query_one("#binary", Input).disabled
        await type_into(pilot, "#jitter", "1.5")
        assert error_under(app, "jitter") == "the jitter must be from 0 to 1"
        await type_into(pilot, "#jitter", "0.2")
        await type_into(pilot, "#when", "field=humidity crosses=90")
        await pilot.press("enter")
        await settle(pilot)
        assert app.results == []  # the telemetry has no value named humidity
        assert error_under(app, "when").startswith("must name one of the telemetry's fields")
        await type_into(pilot, "#when", "field=temperature crosses=30 change=1")
        await toggle(pilot, "#birth")
        await pilot.press("enter")
        await settle(pilot)
    assert app.results == [
        replace(
            kept,
            jitter=0.2,
            on_connect=False,
            publish_when=Trigger("temperature", change=1.0, crosses=30.0),
        )
    ]

    async with open_dialog(TelemetryScreen(SENSOR, kept), size=(100, 60)) as (app, pilot):
        app.screen.query_one("#format", Select).value = TelemetryFormat.BINARY
        await wait_for(pilot, lambda: not app.screen.query_one("#binary", Input).disabled, "on")
        await type_into(pilot, "#binary", "struct=<hH")
        await pilot.press("enter")
        await settle(pilot)
        assert app.results == []
        assert error_under(app, "binary") == "packs 2 items, but the telemetry has 3 fields"
        await type_into(pilot, "#binary", "struct=<f1s20s")
        await pilot.press("enter")
        await settle(pilot)
    assert app.results == [replace(kept, format=TelemetryFormat.BINARY, struct="<f1s20s")]


async def test_what_the_telemetry_form_does_not_show_is_kept() -> None:
    kept = replace(
        DEVICE_KINDS[0].telemetry()[0],
        jitter=0.0,
        on_connect=True,
        publish_when=Trigger("temperature", change=0.5),
    )
    async with open_dialog(TelemetryScreen(SENSOR, kept)) as (app, pilot):
        await pilot.press("enter")
        await settle(pilot)
    assert app.results == [kept]


async def test_new_telemetry_with_a_typed_value_generator() -> None:
    async with open_dialog(TelemetryScreen(SENSOR, None)) as (app, pilot):
        await type_into(pilot, "#topic", "sensors/{id}/temperature")
        await type_into(pilot, "#interval", "2.5")
        await pilot.press("ctrl+n")
        await settle(pilot)
        await paste(pilot, "temperature")
        await pilot.press("tab", "tab")
        await paste(pilot, "min=15 max=35 step=0.5")
        await pilot.press("enter")
        await settle(pilot)
    assert app.results == [
        Telemetry(
            "sensors/{id}/temperature",
            interval=2.5,
            fields={"temperature": ValueSpec(GeneratorKind.WALK, min=15, max=35, step=0.5)},
        )
    ]


async def test_a_value_row_can_be_removed() -> None:
    telemetry = DEVICE_KINDS[0].telemetry()[0]
    async with open_dialog(TelemetryScreen(SENSOR, telemetry)) as (app, pilot):
        await pilot.click("#remove-2")  # the "unit" row
        await settle(pilot)
        await pilot.press("enter")  # the focus went to the Add button: Enter adds a row
        await settle(pilot)
        await type_into(pilot, "#topic", "t")
        await pilot.press("enter")
        await settle(pilot)
    fields = dict(telemetry.fields)
    del fields["unit"]
    assert app.results == [replace(telemetry, topic="t", fields=fields)]


async def test_generator_parameters_are_checked_by_the_profile_rules() -> None:
    async with open_dialog(TelemetryScreen(SENSOR, None)) as (app, pilot):
        await pilot.click("#add-value")
        await settle(pilot)
        await paste(pilot, "temperature")
        await pilot.press("tab", "tab")
        await paste(pilot, "min=40 max=30")
        await pilot.press("enter")
        await settle(pilot)
        assert error_under(app, "params-1") == "min = 40: must not be more than max (30)"
        await type_into(pilot, "#params-1", "min 40")
        await pilot.press("enter")
        await settle(pilot)
        assert error_under(app, "params-1").startswith("write parameters as key=value")
        await type_into(pilot, "#params-1", "min=10 max=30 stepp=1")
        await pilot.press("enter")
        await settle(pilot)
        assert error_under(app, "params-1") == (
            'stepp: is not a key of kind "walk"; did you mean "step"?'
        )
        assert app.results == []


async def test_telemetry_topic_interval_and_template_are_checked() -> None:
    async with open_dialog(TelemetryScreen(SENSOR, None)) as (app, pilot):
        await type_into(pilot, "#topic", "sensors/+/t")
        assert "wildcards" in error_under(app, "topic")
        await type_into(pilot, "#interval", "0")
        assert error_under(app, "interval") == "the interval must be more than 0 seconds"
        await type_into(pilot, "#topic", "sensors/{id}/t")
        await type_into(pilot, "#interval", "1")
        app.screen.query_one("#format").focus()
        await pilot.press("enter", "down", "enter")
        await settle(pilot)
        await pilot.click("#submit")
        await settle(pilot)
        assert error_under(app, "template") == (
            "a text payload needs a template, e.g. temp={temperature}"
        )
        assert app.results == []
        await type_into(pilot, "#template", "hello from {id}")
        await click_button(pilot, "#submit")
        await settle(pilot)
    assert app.results == [
        Telemetry(
            "sensors/{id}/t",
            interval=1.0,
            format=TelemetryFormat.TEXT,
            template="hello from {id}",
        )
    ]


async def test_messages_with_brackets_are_shown_as_written() -> None:
    telemetry = Telemetry("t", fields={"level": ValueSpec(GeneratorKind.CYCLE, values=(1, 2))})
    async with open_dialog(TelemetryScreen(SENSOR, telemetry)) as (app, pilot):
        await type_into(pilot, "#params-1", "values=[1, 2")
        await pilot.press("enter")
        await settle(pilot)
        assert error_under(app, "params-1") == (
            "write parameters as key=value, e.g. values=low,mid,high, round and round"
        )
        await type_into(pilot, "#params-1", "values=[]")
        await pilot.press("enter")
        await settle(pilot)
        expected = "values = []: must be a non-empty array of strings, numbers or true/false"
        assert error_under(app, "params-1") == expected
        assert expected in screen_text(app)


@pytest.mark.parametrize(("template", "accepted"), [(True, True), (False, False)])
async def test_n_stands_for_the_number_only_in_a_template(template: bool, accepted: bool) -> None:
    pattern = Device("Sensor {n}", "TS{n}")
    async with open_dialog(SubscribeScreen(pattern, template=template)) as (app, pilot):
        await paste(pilot, "fleet/{id}/n{n}")
        await pilot.press("enter")
        await settle(pilot)
        if not accepted:
            assert "unknown placeholder {n}" in error_under(app, "topic")
    assert app.results == ([Subscription("fleet/{id}/n{n}")] if accepted else [])


async def test_mqtt_5_properties_are_shown_typed_and_checked() -> None:
    properties = MessageProperties(
        content_type="application/json",
        payload_format=PayloadFormat.UTF8,
        message_expiry=60,
        user={"site": "ward 3", "floor": "3"},
    )
    telemetry = replace(DEVICE_KINDS[0].telemetry()[0], properties=properties)
    async with open_dialog(TelemetryScreen(SENSOR, telemetry)) as (app, pilot):
        shown = app.screen.query_one("#properties", Input).value
        assert shown == (
            "content_type=application/json payload_format=utf-8 message_expiry=60 "
            'user.site="ward 3" user.floor="3"'
        )
        await pilot.press("enter")
        await settle(pilot)
    assert app.results == [telemetry]
    async with open_dialog(TelemetryScreen(SENSOR, telemetry)) as (app, pilot):
        await type_into(pilot, "#properties", "message_expiry=0 user.floor=3")
        await pilot.press("enter")
        await settle(pilot)
        assert (
            error_under(app, "properties")
            == "message_expiry = 0: must be an integer from 1 to 4294967295"
        )
        await type_into(pilot, "#properties", "content_type=text/plain user.floor=3")
        await pilot.press("enter")
        await settle(pilot)
    expected = MessageProperties(content_type="text/plain", user={"floor": "3"})
    assert app.results == [replace(telemetry, properties=expected)]


async def test_a_device_state_is_typed_and_checked_against_what_uses_it() -> None:
    pump = Device(
        "Pump",
        "IP1",
        state={"rate": 25.0},
        telemetry=(
            Telemetry("ward/{id}", fields={"rate": ValueSpec(GeneratorKind.STATE, name="rate")}),
        ),
    )
    network = Network("WARD", devices=(pump,))
    async with open_dialog(DeviceScreen(network, pump)) as (app, pilot):
        assert app.screen.query_one("#state", Input).value == "rate=25.0"
        await type_into(pilot, "#state", "speed=3 running=true")
        await pilot.press("enter")
        await settle(pilot)
        assert app.results == []  # the telemetry reports rate: it must stay
        assert "rate" in error_under(app, "form")
        await type_into(pilot, "#state", "rate=30.5 running=true label='bed 4'")
        await pilot.press("enter")
        await settle(pilot)
    assert app.results == [replace(pump, state={"rate": 30.5, "running": True, "label": "bed 4"})]
