"""The publish prompt: topic (with completion), payload, QoS, retain; sent as the device."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Input, Select

from iotsim_tui.tui.focus import focus_now


class PublishPrompt(Horizontal):
    """One line to publish a message as the selected device."""

    DEFAULT_CSS = """
    PublishPrompt { height: auto; padding: 0 1; }
    PublishPrompt #publish-topic { width: 2fr; }
    PublishPrompt #publish-payload { width: 3fr; }
    PublishPrompt #publish-qos { width: 12; }
    PublishPrompt Checkbox { width: auto; }
    PublishPrompt Button { width: auto; min-width: 9; }
    """

    class Submitted(Message):
        """The user asked to publish a message."""

        def __init__(
            self, prompt: PublishPrompt, topic: str, payload: str, qos: int, retain: bool
        ) -> None:
            super().__init__()
            self.prompt = prompt
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain

        @property
        def control(self) -> PublishPrompt:
            """The prompt that sent it."""
            return self.prompt

    def compose(self) -> ComposeResult:
        yield Input(placeholder="topic", id="publish-topic", compact=True)
        yield Input(placeholder="payload (Enter sends)", id="publish-payload", compact=True)
        yield Select(
            [(f"QoS {q}", q) for q in (0, 1, 2)],
            value=0,
            allow_blank=False,
            id="publish-qos",
            compact=True,
        )
        yield Checkbox("retain", id="publish-retain", compact=True)
        yield Button("Publish", id="publish-send", compact=True)

    topics: Callable[[], Iterable[str]] = staticmethod(lambda: ())
    """Where the completions come from (known subscriptions, telemetry, seen topics); asked
    each time the topic box gets the focus, not on every change of device."""

    @on(events.DescendantFocus)
    def _offer_topics(self, event: events.DescendantFocus) -> None:
        if event.widget.id == "publish-topic":
            known = sorted(set(self.topics()))
            self.query_one("#publish-topic", Input).suggester = SuggestFromList(known)

    def focus_topic(self) -> None:
        """Put the cursor in the topic box."""
        focus_now(self.query_one("#publish-topic", Input))

    @on(Input.Submitted, "#publish-topic")
    def _topic_entered(self, event: Input.Submitted) -> None:
        event.stop()
        focus_now(self.query_one("#publish-payload", Input))

    @on(Input.Submitted, "#publish-payload")
    @on(Button.Pressed, "#publish-send")
    def _send(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        qos = self.query_one("#publish-qos", Select).value
        self.post_message(
            self.Submitted(
                self,
                self.query_one("#publish-topic", Input).value.strip(),
                self.query_one("#publish-payload", Input).value,
                qos if isinstance(qos, int) else 0,
                self.query_one("#publish-retain", Checkbox).value,
            )
        )
