"""A flame graph as one self-contained SVG (no script, no font, no link): the report inlines
it. Drawn top down (the root on top, as py-spy draws its own), each frame as wide as the
samples under it, coloured by layer; hovering a frame shows its name, layer and share (SVG's
<title>). Frames narrower than MIN_SHARE of the whole are left out: at a few hundred samples
they are noise, and each costs the page a few hundred bytes. The trunk every sample shares
(the interpreter's start, the server's main loop) is drawn as one bar that names its frames."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape

from analysis.profile.frames import DRIVER, HANDLER, HTTP, LAYERS, LOOP, REST, THREADS, name
from record.stacks import Stack

WIDTH = 1200  # px: the report's content width
ROW = 17  # px per frame
FONT = 11  # px; a character is about FONT * 0.6 px wide in a monospace font
MIN_SHARE = 0.005
MAX_DEPTH = 80  # below this a stack is cut (py-spy's own limit is 4096)
COLOURS = {
    HANDLER: "#e4572e",
    HTTP: "#f3a712",
    LOOP: "#4c9f70",
    DRIVER: "#7b6cd9",
    THREADS: "#3a86c8",
    REST: "#a8a8a8",
}
TRUNK = "#d9d9d9"
TRUNK_SHARE = 0.98  # a frame this many samples pass through, alone at its depth, is trunk


@dataclass
class Node:
    label: str
    layer: str
    count: int = 0
    children: dict[str, Node] = field(default_factory=dict)


def tree(stacks: Iterable[Stack], roots: tuple[str, ...] = ()) -> Node:
    """Every sample's frames as one tree; processes and threads merged (a forked server's
    processes run the same code)."""
    top = Node("all", REST)
    for s in stacks:
        top.count += s.count
        node = top
        for frame in s.frames[:MAX_DEPTH]:
            named = name(frame, roots)
            node = node.children.setdefault(named.label, Node(named.label, named.layer))
            node.count += s.count
    return top


def _trunk(top: Node) -> tuple[list[str], Node]:
    """The frames (almost) every sample passes through below the root, and the node after
    them: a thread sampled outside Python (no frame) leaves the trunk a sample short."""
    labels, node = [], top
    while len(node.children) == 1:
        (child,) = node.children.values()
        if child.count < TRUNK_SHARE * top.count:
            break
        labels.append(child.label)
        node = child
    return labels, node


def svg(stacks: Iterable[Stack], roots: tuple[str, ...] = (), title: str = "") -> str:
    """The flame graph's SVG text ('' without samples)."""
    top = tree(stacks, roots)
    if top.count == 0:
        return ""
    trunk, start = _trunk(top)
    rects: list[str] = []
    depth = 0
    y0 = 2 * ROW + 4  # a title row and the legend row above
    if trunk:
        tip = f"{len(trunk)} frames every sample shares: " + " → ".join(trunk)
        rects.append(_rect(0, y0, WIDTH, f"… {trunk[-1]}", tip, TRUNK))
        depth = 1

    def draw(node: Node, x: float, level: int) -> int:
        deepest = level
        for child in sorted(node.children.values(), key=lambda n: (-n.count, n.label)):
            w = WIDTH * child.count / top.count
            if child.count / top.count < MIN_SHARE:
                continue
            share = child.count / top.count
            tip = f"{child.label} ({child.layer}): {child.count} samples, {share:.1%}"
            rects.append(_rect(x, y0 + level * ROW, w, child.label, tip, COLOURS[child.layer]))
            deepest = max(deepest, draw(child, x, level + 1))
            x += w
        return deepest

    depth = max(depth, draw(start, 0.0, depth) + 1) if start.children else depth
    height = y0 + depth * ROW + 2
    legend = _legend()
    head = f"{escape(title)} ({top.count} samples)" if title else f"{top.count} samples"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flame" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" font-family="monospace" font-size="{FONT}" role="img">'
        f'<text x="0" y="{ROW - 4}" font-size="{FONT + 1}">{head}</text>'
        f"{legend}{''.join(rects)}</svg>"
    )


def _legend() -> str:
    parts, x = [], 0
    for layer in LAYERS:
        parts.append(
            f'<rect x="{x}" y="{ROW + 2}" width="10" height="10" fill="{COLOURS[layer]}"/>'
            f'<text x="{x + 14}" y="{ROW + 11}">{escape(layer)}</text>'
        )
        x += 14 + int(len(layer) * FONT * 0.6) + 16
    return "".join(parts)


def _rect(x: float, y: float, w: float, label: str, tip: str, colour: str) -> str:
    chars = int((w - 4) / (FONT * 0.6))
    text = ""
    if chars >= 3:
        shown = label if len(label) <= chars else label[: chars - 1] + "…"
        text = f'<text x="{x + 2:.1f}" y="{y + ROW - 5}">{escape(shown)}</text>'
    return (
        f"<g><title>{escape(tip)}</title>"
        f'<rect x="{x:.1f}" y="{y}" width="{max(w - 0.5, 0.5):.1f}" height="{ROW - 1}" '
        f'fill="{colour}" rx="1"/>{text}</g>'
    )
