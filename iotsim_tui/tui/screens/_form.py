"""What every form dialog shares: the frame, labelled fields with inline errors, Enter, Escape.

A dialog subclasses `FormDialog`, yields its fields from `compose_fields`, and builds its
result in `build`, adding a plain-words message per invalid field to `errors`. The dialog
dismisses only when `build` found nothing wrong; otherwise each message shows under its
field and the first invalid field takes the focus.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar, TypeVar

from textual import events, on
from textual.app import ComposeResult
from textual.await_complete import AwaitComplete
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Select, Static

from iotsim_tui.tui.screens._checks import Check
from iotsim_tui.tui.screens._frame import DialogScreen

ResultT = TypeVar("ResultT")


class Toggle(Checkbox, inherit_bindings=False):
    """An on/off field whose state reads without colour: `[✓]` or `[ ]`.

    Space toggles it; Enter is left to the dialog, where it submits like in a text field.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_button", "Toggle", show=False),
    ]

    BUTTON_LEFT = "["
    BUTTON_RIGHT = "]"

    def __init__(self, label: str, value: bool = False, *, id: str | None = None) -> None:
        super().__init__(label, value, id=id, compact=True)
        self._show_state()

    def watch_value(self) -> None:
        """Show the new state, then let the checkbox post `Changed`."""
        self._show_state()
        super().watch_value()

    def _show_state(self) -> None:
        self.BUTTON_INNER = "✓" if self.value else " "


def say(line: Static, words: str) -> None:
    """Put `words` in `line` unless they are there already: each change lays the dialog out
    again, and a kept dialog filled in anew mostly says what it said."""
    if str(line.content) != words:
        line.update(words)


LABEL_WIDTH = 20
"""Columns for the labels, left of every field."""


class FieldRow(Widget):
    """A field: the control (and its extras) in the right-hand column, its label drawn by the
    row itself in the 20 columns the control leaves free, and its hint under them.

    Drawing the label here, not in a `Label` of its own, spares a widget per field: each
    widget costs time when a dialog opens.
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {"field-row--label"}

    DEFAULT_CSS = """
    FieldRow {
        layout: horizontal;
        height: 1;
    }
    FieldRow.-with-hint {
        layout: vertical;
        height: auto;
    }
    FieldRow > .field-row--label {
        color: $text-muted;
    }
    FieldRow > .field-control, FieldRow > .field-line {
        margin-left: 20;
    }
    FieldRow > .field-line {
        height: 1;
    }
    """

    def __init__(self, label: str, *children: Widget, classes: str = "") -> None:
        super().__init__(*children, classes=classes)
        self.label = label

    def render(self) -> Content:
        """The label, in the free columns left of the control (one kept blank before it)."""
        return Content(self.label[: LABEL_WIDTH - 1]).stylize(
            self.get_visual_style("field-row--label")
        )


def field(
    label: str, control: Widget, *extras: Widget, hint: str = "", classes: str = ""
) -> Widget:
    """A labelled row for `control` (and `extras` after it, such as a Browse button), with an
    optional hint under it.

    Its error line (id: the control's id plus `-error`) is made by `FormDialog.show_error`
    the first time there is an error to show: most fields never have one, and each widget
    costs time when the dialog opens.
    """
    if isinstance(control, Input):
        # A text field marks itself valid once mounted, and each class it adds restyles it:
        # set beforehand, the mark costs nothing (a wrong value still turns it to -invalid).
        control.add_class("-valid", update=False)
    control.add_class("field-control", update=False)
    for extra in extras:
        extra.add_class("field-extra", update=False)
    # As few widgets as the picture allows: the control alone when there is no label, extra
    # or hint (its margin keeps the column), a line of its own only for extras over a hint.
    if not (label or extras or hint):
        control.add_class("field", "field-line", "-bare", *classes.split(), update=False)
        return control
    if not hint:
        return FieldRow(label, control, *extras, classes=f"field field-line {classes}")
    line = Horizontal(control, *extras, classes="field-line") if extras else control
    line.add_class("field-line", update=False)
    return FieldRow(
        label,
        line,
        Static(hint, id=f"{control.id}-hint", classes="field-hint", markup=False),
        classes=f"field -with-hint {classes}",
    )


_UNSEEN = object()
"""The value at opening of a field added since without being remembered (never equal)."""
_FIELDS = "Input, Select, Checkbox"
"""The widgets whose values make a form (a change in one is worth asking about)."""


class FormDialog(DialogScreen[ResultT | None]):
    """A modal form: Enter in a text field submits, Escape cancels (dismisses with None)."""

    DEFAULT_CSS = """
    FormDialog #body {
        height: auto;
        max-height: 100%;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
        scrollbar-gutter: stable;
    }
    FormDialog #body > .section:first-child {
        margin-top: 0;
    }
    FormDialog .section {
        height: 1;
        text-style: bold;
        margin-top: 1;
    }
    FormDialog .-bare {
        margin-left: 20;
    }
    FormDialog .field-extra {
        margin-left: 1;
    }
    FormDialog FieldRow Input, FormDialog FieldRow Select {
        width: 1fr;
    }
    FormDialog .field-error {
        display: none;
        color: $text-error;
        padding-left: 20;
    }
    FormDialog #form-error {
        padding-left: 0;
        margin-top: 1;
    }
    FormDialog .field-error.-shown {
        display: block;
    }
    FormDialog .field-hint {
        color: $text-muted;
        padding-left: 20;
    }
    FormDialog .warning {
        color: $text-warning;
        text-style: bold;
    }
    FormDialog #buttons {
        dock: bottom;
        height: 1;
        align-horizontal: right;
        margin-top: 1;
    }
    FormDialog #buttons Button {
        margin-left: 1;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel", tooltip="Close without changes"),
        Binding("enter", "submit", "OK", id="dialog.submit", tooltip="Check and save", show=False),
    ]

    heading: str = "Dialog"
    """The dialog's title, shown on its frame."""
    intro: str = ""
    """A line under the title that says what the dialog does."""
    submit_label: ClassVar[str] = "OK"
    ask_before_discarding: ClassVar[bool] = True
    """Escape asks before it throws away what was typed (not worth it for a file name)."""

    def __init__(self) -> None:
        super().__init__()
        self.live_checks: dict[str, Check] = {}
        """Input id -> its check, run as the user types so errors show at once."""
        self._opened_with: dict[str, object] | None = None
        """Each field's value once the dialog was filled in: what Escape would throw away."""

    @on(events.Mount)
    def _remember_soon(self) -> None:
        # After the dialog's own on_mount, which may fill fields in.
        if self.ask_before_discarding:
            self.call_after_refresh(self._remember_values)

    def _remember_values(self) -> None:
        self._opened_with = self._values()

    def _values(self, within: Widget | None = None) -> dict[str, object]:
        fields = (within or self).query(_FIELDS)
        return {w.id: getattr(w, "value", None) for w in fields if w.id}

    def remember_values_of(self, group: Widget) -> None:
        """Count the fields of `group`, added after the dialog opened, as unchanged as they are
        (showing more fields is not a change Escape should ask about)."""
        if self._opened_with is not None:
            self._opened_with.update(self._values(group))

    @property
    def edited(self) -> bool:
        """True when a field was changed since the dialog opened (a field no longer there,
        such as a part taken down as a kept dialog is filled in anew, holds nothing to lose)."""
        opened = self._opened_with
        if opened is None:
            return False
        return any(opened.get(key, _UNSEEN) != value for key, value in self._values().items())

    @contextmanager
    def refilling(self) -> Iterator[None]:
        """Around a kept dialog's filling in for its next open: the errors of the last open
        go, the focus goes back to where the dialog starts, the fields' changes are not
        taken for the user's, and what the fields hold then is what Escape keeps."""
        self.query(".field-error").remove()
        for control in self.query(".-invalid"):
            control.remove_class("-invalid")
        starts_at = next(iter(self.query(self.AUTO_FOCUS or "#body")), None)
        if self.focused is not starts_at:
            self.set_focus(None)  # the screen focuses AUTO_FOCUS as it shows
        self.query_one("#body").scroll_home(animate=False, immediate=True)
        with self.prevent(Input.Changed, Checkbox.Changed, Select.Changed):
            yield
        self.restyle_when_shown = False
        if self.ask_before_discarding:
            self._remember_values()

    def retitle(self) -> None:
        """Show `heading` and `intro` as they are now (a kept dialog filled in anew; an intro
        shows only where the dialog was built with one)."""
        box = self.query_one("#dialog")
        if box.border_title != self.heading:
            box.border_title = self.heading
        for line in self.query(".intro").results(Static):
            say(line, self.intro)

    def dismiss(self, result: ResultT | None = None) -> AwaitComplete:
        """Close; a kept dialog stops what it still runs (the next open starts afresh)."""
        if self.app.is_screen_installed(self):
            self.workers.cancel_node(self)
        return super().dismiss(result)

    def compose(self) -> ComposeResult:
        """The frame: intro, the fields (scrolling when the terminal is small), the buttons."""
        with self.frame(self.heading, "Enter: OK · Esc: cancel"):
            with VerticalScroll(id="body"):
                if self.intro:
                    yield Static(self.intro, classes="intro", markup=False)
                yield from self.compose_fields()
            with Horizontal(id="buttons"):
                yield Button(self.submit_label, variant="primary", id="submit", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def compose_fields(self) -> ComposeResult:
        """Yield the dialog's fields (use `field`)."""
        yield from ()

    def build(self, errors: dict[str, str]) -> ResultT | None:
        """Return the result, adding `control id -> message` to `errors` for what is invalid.

        `errors` already holds the failed `live_checks`: do not parse those fields. Messages
        about the whole form go under the id `form`.
        """
        raise NotImplementedError

    def action_cancel(self) -> None:
        """Close with no result; asks first when something was typed or changed."""
        if not self.edited:
            self.dismiss(None)
            return
        from iotsim_tui.tui.screens.confirm import ConfirmScreen

        def answered(discard: bool | None) -> None:
            if discard:
                self.dismiss(None)

        question = "Close the dialog and lose the changes made in it?"
        self.app.push_screen(ConfirmScreen(question, yes="Lose them", no="Keep editing"), answered)

    def action_submit(self) -> None:
        """Check every field; dismiss with the result, or show what is wrong and stay open."""
        errors: dict[str, str] = {}
        for input_id, check in self.live_checks.items():
            message = check(self.query_one(f"#{input_id}", Input).value)
            if message:
                errors[input_id] = message
        # `build` runs even when a field failed its check, so every problem shows at once.
        result = self.build(errors)
        self.show_errors(errors)
        if errors:
            for control_id in errors:
                for widget in self.query(f"#{control_id}"):
                    if widget.focusable:
                        widget.focus()
                        return
            return
        self.finish(result)

    def finish(self, result: ResultT | None) -> None:
        """Close with a valid result (a dialog may ask something first)."""
        self.dismiss(result)

    def show_errors(self, errors: dict[str, str]) -> None:
        """Show each message under its field and clear the fields that are fine now."""
        shown = [(line.id or "").removesuffix("-error") for line in self.query(".field-error")]
        for control_id in dict.fromkeys([*shown, *errors]):
            self.show_error(control_id, errors.get(control_id))

    def show_error(self, control_id: str, message: str | None) -> None:
        """Show `message` under the field of `control_id`, or clear it when None."""
        line = self._error_line(control_id, make=bool(message))
        if line is not None:
            line.update(message or "")
            line.set_class(bool(message), "-shown")
        for control in self.query(f"#{control_id}"):
            control.set_class(bool(message), "-invalid")

    def _error_line(self, control_id: str, *, make: bool) -> Static | None:
        """The line under the field of `control_id`; with `make`, made if it is not there yet."""
        lines = self.query(f"#{control_id}-error").results(Static)
        line = next(lines, None)
        if line is not None or not make:
            return line
        row = next(
            (
                ancestor
                for control in self.query(f"#{control_id}")
                for ancestor in control.ancestors_with_self
                if isinstance(ancestor, Widget) and ancestor.has_class("field-line")
            ),
            None,
        )
        line = Static("", id=f"{control_id}-error", classes="field-error", markup=False)
        if control_id == "form":  # about the whole form: under all the fields
            self.query_one("#body").mount(line)
            return line
        if row is None or not isinstance(row.parent, Widget):
            return None
        row.parent.mount(line, after=row)
        return line

    @on(Input.Changed)
    def _check_as_typed(self, event: Input.Changed) -> None:
        check = self.live_checks.get(event.input.id or "")
        if check is not None and event.input.has_focus:
            self.show_error(event.input.id or "", check(event.value))

    @on(Input.Submitted)
    def _submit_on_enter(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    @on(Button.Pressed, "#submit")
    def _submit_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_submit()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_cancel()
