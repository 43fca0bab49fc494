"""One line to send a message: topic (with completion), payload, QoS, retain, and a button.

The main screen's publish prompt sends as the selected device; the broker console's command
line sends from the console's own client. Both are a `MessageLine`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from textual import events, on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.suggester import SuggestFromList
from textual.widgets import Button, Checkbox, Input, Select

from iotsim_tui.tui.focus import focus_now


class MessageLine(Horizontal):
    """Topic, payload, QoS, optional retain, send. Its parts' ids start with `prefix`
    (`publish-topic`, `publish-payload`, ...), so a screen's CSS and tests can name them."""

    DEFAULT_CSS = """
    MessageLine { height: auto; padding: 0 1; }
    MessageLine .topic { width: 2fr; }
    MessageLine .payload { width: 3fr; }
    MessageLine Select { width: 12; }
    MessageLine Checkbox { width: auto; }
    MessageLine Button { width: auto; min-width: 9; }
    """

    class Submitted(Message):
        """The user asked to send a message."""

        def __init__(
            self, line: MessageLine, topic: str, payload: str, qos: int, retain: bool
        ) -> None:
            super().__init__()
            self.line = line
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain

        @property
        def control(self) -> MessageLine:
            """The line that sent it."""
            return self.line

    topics: Callable[[], Iterable[str]] = staticmethod(lambda: ())
    """Where the topic completions come from; asked each time the topic box gets the focus."""

    def __init__(
        self,
        prefix: str,
        *,
        topic_hint: str = "topic",
        payload_hint: str = "payload (Enter sends)",
        qos: int = 0,
        retain: bool = True,
        send: str = "Publish",
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.prefix = prefix
        self._hints = (topic_hint, payload_hint)
        self._qos = qos
        self._retain = retain
        self._send_label = send

    def compose(self) -> ComposeResult:
        topic_hint, payload_hint = self._hints
        yield Input(
            placeholder=topic_hint, id=f"{self.prefix}-topic", classes="topic", compact=True
        )
        yield Input(
            placeholder=payload_hint, id=f"{self.prefix}-payload", classes="payload", compact=True
        )
        yield Select(
            [(f"QoS {q}", q) for q in (0, 1, 2)],
            value=self._qos,
            allow_blank=False,
            id=f"{self.prefix}-qos",
            compact=True,
        )
        if self._retain:
            yield Checkbox("retain", id=f"{self.prefix}-retain", compact=True)
        yield Button(self._send_label, id=f"{self.prefix}-send", compact=True)

    @property
    def topic_box(self) -> Input:
        """Where the topic is typed."""
        return self.query_one(f"#{self.prefix}-topic", Input)

    @property
    def payload_box(self) -> Input:
        """Where the payload is typed."""
        return self.query_one(f"#{self.prefix}-payload", Input)

    @on(events.DescendantFocus)
    def _offer_topics(self, event: events.DescendantFocus) -> None:
        if event.widget is self.topic_box:
            self.topic_box.suggester = SuggestFromList(sorted(set(self.topics())))

    def focus_topic(self) -> None:
        """Put the cursor in the topic box."""
        focus_now(self.topic_box)

    def topic_entered(self) -> bool:
        """Move from the topic box on to the payload; False when the topic box has not the
        focus (Enter is then the focused widget's)."""
        if self.screen.focused is not self.topic_box:
            return False
        focus_now(self.payload_box)
        return True

    @on(Input.Submitted)
    @on(Button.Pressed)
    def _submitted(self, event: Input.Submitted | Button.Pressed) -> None:
        event.stop()
        if event.control is self.topic_box:
            focus_now(self.payload_box)
            return
        qos = self.query_one(Select).value
        retain = self._retain and self.query_one(Checkbox).value
        self.post_message(
            self.Submitted(
                self,
                self.topic_box.value.strip(),
                self.payload_box.value,
                qos if isinstance(qos, int) else self._qos,
                retain,
            )
        )


class PublishPrompt(MessageLine):
    """The main screen's line to publish a message as the selected device."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("publish", id=id)
