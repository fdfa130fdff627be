"""Small charts for reports, as SVG in a `data:` URI a markdown image can show, and as a one-line sparkline for
the terminal.

Why a data URI: the Prefect UI (3.9) renders a markdown artifact's images, `data:image/svg+xml;base64,...` ones
included, but strips inline `<svg>` markup (checked in Chromium, docs/ui/09-usage-report-artifact.png). The SVG
draws its own white background, so it reads the same on the UI's dark and light themes.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 30, 34  # margins: the y labels on the left, the x labels below
SPARKS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Series:
    """One stacked layer of a bar chart: its name in the legend, its colour, one value per bar."""

    name: str
    color: str
    values: Sequence[float]


def bar_chart(title: str, labels: list[str], layers: list[Series], unit: str = "") -> str:
    """A stacked bar chart as an SVG document: one bar per label, the layers stacked in order."""
    totals = [sum(layer.values[i] for layer in layers) for i in range(len(labels))]
    top = max(totals, default=0) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(labels), 1)
    parts = [*_frame(title), *_axes(top, unit, plot_h), *_legend(layers)]
    for i, label in enumerate(labels):
        base = float(TOP + plot_h)
        for layer in layers:
            height = layer.values[i] / top * plot_h
            if height > 0:
                parts.append(_bar(LEFT + i * step + step * 0.1, base - height, step * 0.8, height, layer, i, label))
                base -= height
        parts += _x_label(i, label, len(labels), step)
    parts.append("</svg>")
    return "".join(parts)


def grouped_bar_chart(title: str, labels: list[str], layers: list[Series], unit: str = "") -> str:
    """Bars side by side, one per layer in each label's slot: two distributions over the same bins read at a
    glance (a drift report's reference and current shares)."""
    top = max((v for layer in layers for v in layer.values), default=0) or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(labels), 1)
    width = step * 0.8 / max(len(layers), 1)
    parts = [*_frame(title), *_axes(top, unit, plot_h), *_legend(layers)]
    for i, label in enumerate(labels):
        for j, layer in enumerate(layers):
            height = layer.values[i] / top * plot_h
            parts.append(
                _bar(LEFT + i * step + step * 0.1 + j * width, TOP + plot_h - height, width, height, layer, i, label)
            )
        parts += _x_label(i, label[:12], len(labels), step)
    parts.append("</svg>")
    return "".join(parts)


def _bar(x: float, y: float, width: float, height: float, layer: Series, i: int, label: str) -> str:
    """One bar of ``layer`` at label ``i``, its value in a tooltip."""
    tip = f"{escape(label)}: {_number(layer.values[i])} {escape(layer.name)}"
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{height:.1f}" fill="{layer.color}">'
        f"<title>{tip}</title></rect>"
    )


def _x_label(i: int, label: str, bars: int, step: float) -> list[str]:
    """The label under bar ``i``, if it is one of those shown (see _label_every)."""
    if i % _label_every(bars):
        return []
    x = LEFT + i * step + step / 2
    return [f'<text x="{x:.1f}" y="{HEIGHT - 14}" text-anchor="middle" fill="#374151">{escape(label)}</text>']


def _frame(title: str) -> list[str]:
    """The SVG's opening tag, its white background and the title."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="18" font-size="13" font-weight="bold" fill="#111827">{escape(title)}</text>',
    ]


def _axes(top: float, unit: str, plot_h: float) -> list[str]:
    """The baseline, a top gridline and their values."""
    y0, y1 = TOP + plot_h, TOP
    return [
        f'<line x1="{LEFT}" y1="{y0}" x2="{WIDTH - RIGHT}" y2="{y0}" stroke="#9ca3af"/>',
        f'<line x1="{LEFT}" y1="{y1}" x2="{WIDTH - RIGHT}" y2="{y1}" stroke="#e5e7eb" stroke-dasharray="3,3"/>',
        f'<text x="{LEFT - 6}" y="{y0 + 4}" text-anchor="end" fill="#374151">0</text>',
        f'<text x="{LEFT - 6}" y="{y1 + 4}" text-anchor="end" fill="#374151">{escape(unit)}{_number(top)}</text>',
    ]


def _legend(layers: list[Series]) -> list[str]:
    parts, x = [], WIDTH - RIGHT
    for layer in reversed(layers):  # right-aligned, in stacking order read left to right
        x -= 14 + 7 * len(layer.name)
        parts += [
            f'<rect x="{x}" y="9" width="10" height="10" fill="{layer.color}"/>',
            f'<text x="{x + 14}" y="18" fill="#374151">{escape(layer.name)}</text>',
        ]
        x -= 10
    return parts


def _label_every(bars: int) -> int:
    """Label every n-th bar so labels of ~6 characters do not overlap (about 12 fit)."""
    return max(1, -(-bars // 12))


def _number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.4f}".rstrip("0") if value < 1 else f"{value:,.2f}"


def escape(text: str) -> str:
    """``text`` safe in SVG text and attributes (not html.escape: html.entities costs 1 ms to import)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def markdown_image(alt: str, svg: str) -> str:
    """A markdown image of ``svg``; ``alt`` says what it shows, for a reader whose viewer shows no images."""
    return f"![{alt.replace(']', ')')}]({data_uri(svg)})"


def sparkline(values: Sequence[float]) -> str:
    """One character per value, ``▁`` for none to ``█`` for the largest (any value above none shows at least
    ``▂``): a chart a terminal shows."""
    top = max(values, default=0) or 1
    return "".join(SPARKS[0 if v <= 0 else max(1, round(v / top * (len(SPARKS) - 1)))] for v in values)
