"""A footer that fits the terminal: the most useful keys first, and always help and quit."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Input
from textual.widgets._footer import FooterKey

PINNED = frozenset({"help", "quit"})
"""Actions the footer shows however narrow the terminal is: with them, a user finds the rest."""
PALETTE_CELLS = 12
"""What the command palette's key takes at the right end ("▏^p palette" and its padding)."""


@dataclass(frozen=True, slots=True)
class FooterItem:
    """One key as the footer shows it."""

    key: str
    display: str
    """The key as printed: "s", "^s", "?"."""
    label: str
    action: str
    enabled: bool = True
    tooltip: str = ""

    @property
    def cells(self) -> int:
        """Columns it takes in the compact footer: key, space, label, space."""
        return cell_len(self.display) + 1 + cell_len(self.label) + 1


def fit(
    items: Sequence[FooterItem], width: int, pinned: Collection[str] = PINNED
) -> list[FooterItem]:
    """The items that fit in `width` columns, in their order.

    Pinned actions are always kept (at the end, where users look for them); the others are
    taken in order while they fit, so the first ones are the most useful.
    """
    kept = [item for item in items if item.action in pinned]
    room = width - sum(item.cells for item in kept)
    chosen: list[FooterItem] = []
    for item in items:
        if item.action in pinned:
            continue
        if item.cells <= room:
            chosen.append(item)
            room -= item.cells
    return chosen + kept


def short_label(binding: Binding, labels: Mapping[str, str]) -> str:
    """The footer's word for a binding: its entry in `labels` (by id), else its description."""
    return labels.get(binding.id or "", binding.description)


class KeysFooter(Footer):
    """Textual's footer, cut to the keys that fit the width instead of running off the edge.

    A screen or widget may give short footer words for its bindings in `FOOTER_LABELS`
    (binding id -> word), so that descriptions can be whole phrases in the command palette,
    and name in `FOOTER_TYPING` hidden bindings to show while a text box has the focus.
    """

    DEFAULT_CSS = """
    KeysFooter { padding-left: 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, compact=True)
        self._width = 0
        self._composed: tuple[list[FooterItem], FooterItem | None] | None = None
        """What the last build showed."""

    def items(self) -> list[FooterItem]:
        """Every shown key where the focus is, the focused widget's first, one per action."""
        items: list[FooterItem] = []
        actions: set[str] = set()
        palette = self.app.COMMAND_PALETTE_BINDING
        typing = isinstance(self.screen.focused, Input)
        for key, (node, binding, enabled, tooltip) in self.screen.active_bindings.items():
            shown = binding.show or (typing and binding.id in getattr(node, "FOOTER_TYPING", ()))
            if not shown or binding.action in actions or key == palette:
                continue
            actions.add(binding.action)
            labels: Mapping[str, str] = getattr(node, "FOOTER_LABELS", {})
            items.append(
                FooterItem(
                    binding.key,
                    self.app.get_key_display(binding),
                    short_label(binding, labels),
                    binding.action,
                    enabled,
                    tooltip or binding.description,
                )
            )
        return items

    def _choice(self) -> tuple[list[FooterItem], FooterItem | None]:
        """The keys that fit the width, and the command palette's key if it fits too."""
        # The footer's own width (inside its padding), or the app's before the first layout.
        self._width = width = self.size.width or self.app.size.width - 1
        items = self.items()
        shown = fit(items, width)
        palette_fits = (
            len(shown) == len(items) and sum(i.cells for i in shown) + PALETTE_CELLS <= width
        )
        palette = None
        if palette_fits and self.show_command_palette and self.app.ENABLE_COMMAND_PALETTE:
            active = self.screen.active_bindings.get(self.app.COMMAND_PALETTE_BINDING)
            if active is not None:
                binding = active.binding
                palette = FooterItem(
                    binding.key,
                    self.app.get_key_display(binding),
                    binding.description,
                    binding.action,
                    active.enabled,
                    binding.tooltip or binding.description,
                )
        return shown, palette

    async def recompose(self) -> None:
        """Build the keys again, unless the same keys are on show (a dialog opening or
        closing asks for this several times, and each build costs every key's widget)."""
        if self._bindings_ready and self.is_attached and self._choice() == self._composed:
            return
        await super().recompose()

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        self._composed = shown, palette = self._choice()
        for item in shown:
            key = FooterKey(
                item.key,
                item.display,
                item.label,
                item.action,
                disabled=not item.enabled,
                tooltip=item.tooltip,
                # Born with the class its compact flag sets, so mounting it does not
                # restyle it a second time.
                classes="-compact" if self.compact else "",
            )
            # Set, not data-bound like Textual's footer does: a binding keeps its key alive
            # after each recompose (12 keys a dialog open, never freed, slowing every GC).
            key.compact = self.compact
            yield key
        if palette is not None:
            yield FooterKey(
                palette.key,
                palette.display,
                palette.label,
                palette.action,
                classes="-command-palette",
                disabled=not palette.enabled,
                tooltip=palette.tooltip,
            )

    def on_resize(self, event: events.Resize) -> None:
        """Choose the keys again when the width changes."""
        if event.size.width != self._width and self._bindings_ready:
            self.call_after_refresh(self.recompose)
