"""The main screen's actions on devices: add, edit, delete, subscribe, telemetry.

A device made by a template (`[[templates]]` with a count) is changed through its template,
so every device it makes changes alike, or on its own: it then leaves the template's
numbering and is listed as a device of its own. The app asks which, each time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from iotsim_tui.engine.events import DeviceStatus
from iotsim_tui.engine.generators import device_topic
from iotsim_tui.errors import IotsimError
from iotsim_tui.profiles.expand import expand
from iotsim_tui.profiles.model import (
    Device,
    DeviceTemplate,
    Network,
    SubscribeOn,
    Subscription,
    Telemetry,
)
from iotsim_tui.tui import editing
from iotsim_tui.tui.messages import NetworksChanged
from iotsim_tui.tui.screens._kept import keep_dialog, kept_dialog
from iotsim_tui.tui.screens.selection import SelectionScreen
from iotsim_tui.tui.session import OpenNetwork
from iotsim_tui.tui.widgets.network_tree import Place
from iotsim_tui.words import agreeing, counted


def _made_from(device_id: str, made: editing.MadeByTemplate) -> str:
    """E.g. "TS4 is one of 1000 devices made from the template TS{n} (TS1 to TS1000)"."""
    template = made.template
    if template.count == 1:
        return f"{device_id} is made from the template {template.id}"
    return (
        f"{device_id} is one of {counted(template.count, 'device')} made from the template "
        f"{template.id} ({made.ids})"
    )


def _all_of(count: int) -> str:
    return agreeing(count, "its device", f"all {counted(count, 'device')}")


@dataclass(frozen=True)
class Target:
    """What a device dialog edits: a listed device, or a template seen as one device."""

    opened: OpenNetwork
    device: Device
    base: Network
    """The network the edit applies to (with the device already split off its template)."""
    template: int | None = None
    """The template's place in the network when the template is edited."""
    leaving: str | None = None
    """The template (its id pattern) the device leaves to be edited alone."""

    def put(self, device: Device) -> Network:
        """The network with the edited device (or template) in place."""
        if self.template is None:
            return editing.put_device(self.base, device, replacing=self.device.id)
        return editing.put_template_device(self.base, self.template, device)

    @property
    def name(self) -> str:
        """How notifications name it: "TS1", or "the template TS{n} (1000 devices)"."""
        if self.template is None:
            return self.device.id
        count = self.base.templates[self.template].count
        return f"the template {self.device.id} ({counted(count, 'device')})"


class DeviceActions(SelectionScreen):
    """Actions of the main screen that edit devices through dialogs."""

    def _with_device(self, then: Callable[[Target], None]) -> None:
        """Call `then` with the selected device; for one made by a template, ask first
        whether to change the template or the device alone."""
        from iotsim_tui.tui.screens.confirm import ChoiceScreen

        opened = self._need_network()
        if opened is None:
            return
        device_id = self.device_id
        if device_id is None:
            self.notify("Select a device in the tree first.", severity="warning")
            return
        network = opened.network
        made = editing.made_by_template(network, device_id)
        if made is None:
            try:
                then(Target(opened, editing.own_device(network, device_id), network))
            except IotsimError as error:
                self.notify(error.message, title=error.title, severity="warning")
            return
        count = made.template.count

        def chosen(answer: str | None) -> None:
            if answer == "template":
                device = editing.template_as_device(made.template)
                then(Target(opened, device, network, made.index))
            elif answer == "alone":
                base, device = editing.split_off(network, made, keep=True)
                then(Target(opened, device, base, leaving=made.template.id))

        others = "; the others stay as they are" if count > 1 else ""
        question = (
            f"{_made_from(device_id, made)}. Change the template, and with it every device it "
            f"makes, or {device_id} alone? {device_id} alone leaves the template and is listed "
            f"as a device of its own{others}."
        )
        choices = [
            ("template", f"The template: {_all_of(count)}"),
            ("alone", f"{device_id} alone, as a device of its own"),
        ]
        self.app.push_screen(ChoiceScreen(question, choices), chosen)

    def action_add_device(self) -> None:
        from iotsim_tui.tui.screens.device_form import DeviceScreen

        opened = self._need_network()
        if opened is None:
            return

        def added(device: Device | None) -> None:
            if device is None:
                return
            try:
                network = editing.put_device(opened.network, device)
            except IotsimError as error:
                self.notify(error.message, title=error.title, severity="error")
                return
            self._changed_network(opened, network, f"{device.id} added to {network.name}")
            self._select_after(Place(opened.key, device.id))

        dialog = kept_dialog(self.app, DeviceScreen, "add")
        if dialog is None:
            dialog = DeviceScreen(opened.network, None)
            keep_dialog(self.app, dialog, "add")
        else:
            dialog.refill(opened.network)
        self.app.push_screen(dialog, added)

    def action_add_template(self) -> None:
        from iotsim_tui.tui.screens.template_form import TemplateScreen

        opened = self._need_network()
        if opened is None:
            return

        def added(template: DeviceTemplate | None) -> None:
            if template is None:
                return
            network = replace(opened.network, templates=(*opened.network.templates, template))
            made = counted(template.count, "device")
            self._changed_network(
                opened, network, f"Template {template.id} added to {network.name}: {made}"
            )
            first = expand(template)[0].id if template.count else None
            self._select_after(Place(opened.key, first))

        self.app.push_screen(TemplateScreen(opened.network, None), added)

    def action_edit_device(self) -> None:
        self._with_device(self._edit)

    def _edit(self, target: Target) -> None:
        from iotsim_tui.tui.screens.device_form import DeviceScreen
        from iotsim_tui.tui.screens.template_form import TemplateScreen

        opened, old = target.opened, target.device
        if target.template is not None:
            index = target.template

            def template_edited(template: DeviceTemplate | None) -> None:
                if template is None or template == target.base.templates[index]:
                    return
                network = editing.put_template(target.base, index, template)
                made = counted(template.count, "device")
                self._changed_network(
                    opened, network, f"Template {template.id} changed: {made} made from it"
                )
                first = expand(template)[0].id if template.count else None
                self._select_after(Place(opened.key, first))

            self.app.push_screen(TemplateScreen(target.base, index), template_edited)
            return

        def edited(device: Device | None) -> None:
            if device is None or (device == old and target.base == opened.network):
                return
            try:
                network = target.put(device)
            except IotsimError as error:
                self.notify(error.message, title=error.title, severity="error")
                return
            self._changed_network(opened, network, f"{device.id} changed")
            self._select_after(Place(opened.key, device.id))

        intro = ""
        if target.leaving is not None:
            intro = (
                f"{old.id} leaves the template {target.leaving} and is listed as a device of "
                "its own once you save."
            )
        self.app.push_screen(DeviceScreen(target.base, old, intro=intro), edited)

    def action_delete_device(self) -> None:
        from iotsim_tui.tui.screens.confirm import ChoiceScreen, ConfirmScreen

        opened = self._need_network()
        if opened is None or self.device_id is None:
            if opened is not None:
                self.notify("Select a device in the tree first.", severity="warning")
            return
        device_id, network = self.device_id, opened.network
        made = editing.made_by_template(network, device_id)
        if made is None:
            try:
                device = editing.own_device(network, device_id)
            except IotsimError as error:
                self.notify(error.message, title=error.title, severity="warning")
                return

            def confirmed(yes: bool | None) -> None:
                if yes:
                    changed = editing.remove_device(network, device.id)
                    self._changed_network(opened, changed, f"{device.id} deleted")
                    self._select_after(Place(opened.key))

            question = f"Delete {device.id} ({device.name}) from {network.name}?"
            self.app.push_screen(ConfirmScreen(question, yes="Delete"), confirmed)
            return
        count = made.template.count

        def chosen(answer: str | None) -> None:
            if answer == "one":
                changed, _ = editing.split_off(network, made, keep=False)
                self._changed_network(opened, changed, f"{device_id} deleted")
            elif answer == "all":
                changed = editing.remove_template(network, made.index)
                self._changed_network(
                    opened,
                    changed,
                    f"Template {made.template.id} deleted ({counted(count, 'device')})",
                )
            if answer is not None:
                self._select_after(Place(opened.key))

        others = count - 1
        stay = agreeing(
            others, "the other device stays", f"the other {counted(others, 'device')} stay"
        )
        choices = [("one", f"{device_id} only ({stay})")]
        choices.append(("all", f"The template and {_all_of(count)}"))
        question = (
            f"{_made_from(device_id, made)}. Delete it alone, or the template with every "
            "device it makes?"
        )
        self.app.push_screen(ChoiceScreen(question, choices if others else choices[1:]), chosen)

    def action_subscribe(self) -> None:
        self._with_device(self._subscribe_dialog)

    def _subscribe_dialog(self, target: Target) -> None:
        from iotsim_tui.tui.screens.subscribe import SubscribeScreen

        def chosen(subscription: Subscription | None) -> None:
            if subscription is not None:
                self._subscribe(target, subscription)

        template = target.template is not None
        dialog = kept_dialog(self.app, SubscribeScreen)
        if dialog is None:
            dialog = SubscribeScreen(target.device, subject=target.name, template=template)
            keep_dialog(self.app, dialog)
        else:
            dialog.refill(target.device, subject=target.name, template=template)
        self.app.push_screen(dialog, chosen)

    def _subscribe(self, target: Target, subscription: Subscription) -> None:
        """Save the subscription in the profile, and subscribe the running devices now."""
        opened = target.opened
        changed = editing.add_subscription(target.device, subscription)
        network = target.put(changed)
        opened.apply(network)
        self.post_message(NetworksChanged())
        if target.template is None:
            devices = [changed]
        else:
            devices = expand(network.templates[target.template])
        running = [
            device
            for device in devices
            if opened.engine is not None
            and device.id in opened.records
            and opened.records[device.id].status is not DeviceStatus.STOPPED
        ]
        topic = subscription.topic
        if target.template is None:
            if not running:
                what = f"{target.name} will subscribe to {topic} when it starts"
            else:
                what = f"{target.name} subscribes to {device_topic(topic, changed)} now"
        elif not running:
            what = f"The devices of {target.name} will subscribe to {topic} when they start"
        else:
            verb = agreeing(len(running), "subscribes", "subscribe")
            what = f"{counted(len(running), 'device')} of {target.name} {verb} to {topic} now"
        if subscription.on is SubscribeOn.MANUAL:
            if running:
                what = what.removesuffix(" now") + " now only"
                later = " (kept in the profile as on = manual: not on later starts)."
            else:
                what = f"{target.name} is not running: the subscription to {topic} is kept"
                later = " in the profile as on = manual, and not made now."
        else:
            later = " (saved in the profile)." if not running else ", and on every start."
        self.notify(what + later, title="Subscription added")
        if not running:
            return

        async def subscribe_all() -> None:
            # {n} is already filled in by the template; {id} and {name} are each device's.
            for device in running:
                topic_filter = device_topic(device.subscribe[-1].topic, device)
                await opened.subscribe(device.id, topic_filter, qos=subscription.qos)

        self.run_worker(
            subscribe_all(), name=f"subscribe {target.name}", group="control", exit_on_error=False
        )

    def action_telemetry(self) -> None:
        self._with_device(self._telemetry)

    def _telemetry(self, target: Target) -> None:
        from iotsim_tui.engine.generators import device_topic
        from iotsim_tui.tui.screens.telemetry_list import (
            TelemetryChoice,
            TelemetryListScreen,
            published_on,
        )

        if not target.device.telemetry:
            self._edit_telemetry(target, None)
            return

        def chosen(choice: TelemetryChoice | None) -> None:
            if choice is None:
                return
            if choice.action == "delete" and choice.index is not None:
                self._delete_telemetry(target, choice.index)
            else:
                self._edit_telemetry(target, choice.index)

        # The charts show what the selected device published lately (for a template, the
        # device of it that is selected).
        record = target.opened.records.get(self.device_id or "")

        def published(index: int) -> list[bytes]:
            if record is None:
                return []
            topic = device_topic(target.device.telemetry[index].topic, record.device)
            return published_on(record.log, topic)

        screen = TelemetryListScreen(target.device, subject=target.name, published=published)
        self.app.push_screen(screen, chosen)

    def _edit_telemetry(self, target: Target, index: int | None) -> None:
        """Add a telemetry topic (`index` None) or edit the telemetry number `index`."""
        from iotsim_tui.tui.screens.telemetry import TelemetryScreen

        device = target.device
        current = device.telemetry[index] if index is not None else None

        def edited(telemetry: Telemetry | None) -> None:
            if telemetry is None or (telemetry == current and target.base == target.opened.network):
                return
            network = target.put(editing.put_telemetry(device, telemetry, replacing=index))
            what = (
                f"{target.name} now publishes {telemetry.topic}"
                if current is None
                else f"Telemetry {telemetry.topic} of {target.name} changed"
            )
            self._changed_network(target.opened, network, what)

        template = target.template is not None
        dialog = TelemetryScreen(
            device,
            current,
            subject=target.name,
            template=template,
            protocol=target.opened.network.broker.protocol,
        )
        self.app.push_screen(dialog, edited)

    def _delete_telemetry(self, target: Target, index: int) -> None:
        from iotsim_tui.tui.screens.confirm import ConfirmScreen

        topic = target.device.telemetry[index].topic

        def confirmed(yes: bool | None) -> None:
            if yes:
                network = target.put(editing.remove_telemetry(target.device, index))
                what = f"{target.name} no longer publishes {topic}"
                self._changed_network(target.opened, network, what)

        question = f"Delete the telemetry {topic} of {target.name}?"
        self.app.push_screen(ConfirmScreen(question, yes="Delete"), confirmed)
