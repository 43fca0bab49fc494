"""The tree of open networks and their devices, each with a status mark and counts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from iotsim_tui.engine.events import DeviceStatus
from iotsim_tui.tui.widgets.marks import STATUS_MARKS


@dataclass(frozen=True, slots=True)
class Place:
    """What a tree node stands for: a network, or one of its devices."""

    network: str
    """The open network's key."""
    device: str | None = None


@dataclass(frozen=True, slots=True)
class DeviceLine:
    """What the tree shows of a device."""

    id: str
    name: str
    status: DeviceStatus


def device_label(line: DeviceLine) -> Text:
    """The tree line of a device, e.g. "● TS1 Temperature_Sensor".

    Message counts are shown in the device log's title instead: they change too often.
    """
    mark, style = STATUS_MARKS[line.status]
    return Text.assemble(
        (f"{mark} ", style),
        (line.id, "bold"),
        f" {line.name}" if line.name != line.id else "",
    )


def network_label(name: str, connected: int, total: int, *, dirty: bool) -> Text:
    """The tree line of a network, e.g. "NDE_FINANCE_NETWORK* 1/3 up" (connected/all)."""
    return Text.assemble(
        (name, "bold"),
        ("*" if dirty else "", "bold yellow"),
        (f"  {connected}/{total} up", "dim"),
    )


class NetworkTree(Tree[Place]):
    """Networks at the top level, devices under them; labels change in place."""

    DEFAULT_CSS = """
    NetworkTree { width: 100%; height: 1fr; overflow-x: hidden; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("networks", id=id)
        self.show_root = False
        self.guide_depth = 2
        self._places: dict[Place, TreeNode[Place]] = {}
        self._labels: dict[Place, str] = {}

    def render_label(self, node: TreeNode[Place], base_style: Style, style: Style) -> Text:
        """The label, cut with an ellipsis where the pane ends (the log's title has it whole)."""
        label = super().render_label(node, base_style, style)
        level, parent = 0, node.parent
        while parent is not None and parent is not self.root:
            level, parent = level + 1, parent.parent
        room = self.scrollable_content_region.width - self.guide_depth * level
        if room <= 0 or label.cell_len <= room:
            return label
        # A network keeps its "1/2 up" count; its name gives way.
        count_at = label.plain.rfind("  ") if level == 0 else -1
        if count_at > 0 and label.cell_len - count_at < room - 4:
            name, count = label[:count_at], label[count_at:]
            name.truncate(room - count.cell_len, overflow="ellipsis")
            return Text.assemble(name, count)
        label.truncate(room, overflow="ellipsis")
        return label

    def get_label_width(self, node: TreeNode[Place]) -> int:
        """The label's width, measured without rendering it: the tree measures every node
        each time it changes, and rendering a thousand labels would hold up the screen."""
        label = node.label
        width = label.cell_len if isinstance(label, Text) else cell_len(label)
        return width + (cell_len(self.ICON_NODE) if node.allow_expand else 0)

    def node_of(self, place: Place) -> TreeNode[Place] | None:
        """The node showing `place`, if any."""
        return self._places.get(place)

    def set_network(self, key: str, name: str, lines: list[DeviceLine], *, dirty: bool) -> None:
        """Show one network and its devices, adding or removing device nodes as needed."""
        place = Place(key)
        up = sum(1 for line in lines if line.status is DeviceStatus.CONNECTED)
        label = network_label(name, up, len(lines), dirty=dirty)
        node = self._places.get(place)
        if node is None:
            node = self.root.add(label, data=place, expand=True)
            self._places[place] = node
        else:
            self._relabel(place, node, label)
        wanted = [line.id for line in lines]
        present = [child.data.device for child in node.children if child.data is not None]
        if present != wanted:
            for child in list(node.children):
                if child.data is not None:
                    self._places.pop(child.data, None)
                    self._labels.pop(child.data, None)
            node.remove_children()
            for line in lines:
                child_place = Place(key, line.id)
                label = device_label(line)
                self._places[child_place] = node.add_leaf(label, data=child_place)
                self._labels[child_place] = label.plain
            return
        for line in lines:
            child_place = Place(key, line.id)
            self._relabel(child_place, self._places[child_place], device_label(line))

    def update_devices(self, key: str, label: Text, lines: Iterable[DeviceLine]) -> None:
        """Relabel a network and only the devices given (those that changed)."""
        node = self._places.get(Place(key))
        if node is None:
            return
        self._relabel(Place(key), node, label)
        for line in lines:
            place = Place(key, line.id)
            child = self._places.get(place)
            if child is not None:
                self._relabel(place, child, device_label(line))

    def remove_network(self, key: str) -> None:
        """Forget a closed network."""
        node = self._places.pop(Place(key), None)
        if node is None:
            return
        for place in [p for p in self._places if p.network == key]:
            del self._places[place]
            self._labels.pop(place, None)
        node.remove()

    def _relabel(self, place: Place, node: TreeNode[Place], label: Text) -> None:
        # set_label redraws the tree; skip it when the words are the same.
        if self._labels.get(place) != label.plain:
            self._labels[place] = label.plain
            node.set_label(label)
