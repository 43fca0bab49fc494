"""The main screen's actions on what a device reacts to: commands, its last will, and
unsubscribing from the subscriptions pane (`k`, `L`, `x`)."""

from __future__ import annotations

import re
from dataclasses import replace

from textual import on

from iotsim_tui.engine.generators import device_topic
from iotsim_tui.profiles.model import Command
from iotsim_tui.tui.messages import NetworksChanged
from iotsim_tui.tui.screens.device_actions import DeviceActions, Target
from iotsim_tui.tui.widgets.subscriptions import SubscriptionsTable


class ReactionActions(DeviceActions):
    """Commands, the last will and unsubscribing, through dialogs and the subscriptions pane."""

    def action_command(self) -> None:
        self._with_device(self._commands)

    def _commands(self, target: Target) -> None:
        """Add a command, or (when the device has some) choose one to change or delete."""
        from iotsim_tui.tui.screens.command_list import CommandListScreen
        from iotsim_tui.tui.screens.telemetry_list import TelemetryChoice

        if not target.device.commands:
            self._command_dialog(target, None)
            return

        def chosen(choice: TelemetryChoice | None) -> None:
            if choice is None:
                return
            if choice.action == "delete" and choice.index is not None:
                self._delete_command(target, choice.index)
            else:
                self._command_dialog(target, choice.index)

        self.app.push_screen(CommandListScreen(target.device, subject=target.name), chosen)

    def _command_dialog(self, target: Target, index: int | None) -> None:
        """Add a command (`index` None) or change the command number `index`."""
        from iotsim_tui.tui.screens.command_form import CommandScreen

        device = target.device
        current = device.commands[index] if index is not None else None

        def done(command: Command | None) -> None:
            if command is None or (command == current and target.base == target.opened.network):
                return
            commands = list(device.commands)
            if index is None:
                commands.append(command)
                what = f"{target.name} now reacts to commands on {command.topic}"
            else:
                commands[index] = command
                what = f"Command {command.topic} of {target.name} changed"
            changed = replace(device, commands=tuple(commands))
            self._changed_network(target.opened, target.put(changed), what)

        dialog = CommandScreen(
            device,
            current,
            subject=target.name,
            template=target.template is not None,
            protocol=target.opened.network.broker.protocol,
        )
        self.app.push_screen(dialog, done)

    def _delete_command(self, target: Target, index: int) -> None:
        from iotsim_tui.tui.screens.confirm import ConfirmScreen

        device = target.device
        topic = device.commands[index].topic

        def confirmed(yes: bool | None) -> None:
            if yes:
                kept = device.commands[:index] + device.commands[index + 1 :]
                network = target.put(replace(device, commands=kept))
                what = f"{target.name} no longer reacts to commands on {topic}"
                self._changed_network(target.opened, network, what)

        question = f"Delete the command {topic} of {target.name}?"
        self.app.push_screen(ConfirmScreen(question, yes="Delete"), confirmed)

    def action_will(self) -> None:
        self._with_device(self._will_dialog)

    def _will_dialog(self, target: Target) -> None:
        from iotsim_tui.tui.screens.will_form import WillChoice, WillScreen

        def chosen(choice: WillChoice | None) -> None:
            if choice is None or choice.will == target.device.will:
                return
            device = replace(target.device, will=choice.will)
            what = (
                f"{target.name} has no last will now"
                if choice.will is None
                else f"Last will of {target.name}: {choice.will.topic}"
            )
            self._changed_network(target.opened, target.put(device), what)

        template = target.template is not None
        self.app.push_screen(
            WillScreen(
                target.device,
                subject=target.name,
                template=template,
                protocol=target.opened.network.broker.protocol,
            ),
            chosen,
        )

    @on(SubscriptionsTable.UnsubscribeAsked)
    def _unsubscribe_asked(self, event: SubscriptionsTable.UnsubscribeAsked) -> None:
        topic_filter = event.topic_filter
        self._with_device(lambda target: self._unsubscribe(target, topic_filter))

    def _unsubscribe(self, target: Target, topic_filter: str) -> None:
        """Take the subscription out of the profile, and unsubscribe the device now if it runs."""
        device = target.device
        selected = self.device_id or device.id
        named = [s for s in device.subscribe if device_topic(s.topic, device) == topic_filter]
        if target.template is not None:  # the table shows one device's filled-in filter
            named = [s for s in device.subscribe if _fits_filter(s.topic, topic_filter)]
        if not named:
            if any(device_topic(c.topic, device) == topic_filter for c in device.commands):
                why = "it is the topic of a command (k changes or deletes commands)"
            else:
                why = "it is not in the profile"
            self.notify(f"{topic_filter} stays: {why}.", severity="warning")
            return
        kept = tuple(s for s in device.subscribe if s not in named)
        network = target.put(replace(device, subscribe=kept))
        opened = target.opened
        opened.apply(network)
        self.post_message(NetworksChanged())
        running = opened.engine is not None and selected in opened.records
        self.notify(
            f"{target.name} no longer subscribes to {named[0].topic}"
            + (" (unsubscribed now)." if running else " (saved in the profile)."),
            title="Unsubscribed",
        )
        if not running:
            return

        async def unsubscribe() -> None:
            await opened.unsubscribe(selected, topic_filter)

        self.run_worker(
            unsubscribe(), name=f"unsubscribe {selected}", group="control", exit_on_error=False
        )


def _fits_filter(pattern: str, topic_filter: str) -> bool:
    """True when a template's `pattern` (with `{...}` placeholders) can give `topic_filter`."""
    parts = re.split(r"\{[^{}]*\}", pattern)
    return re.fullmatch(".*".join(re.escape(p) for p in parts), topic_filter) is not None
