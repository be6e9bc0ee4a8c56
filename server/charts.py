"""Bar charts as inline SVG, drawn on the server: the status page needs no script library and no CDN."""

from __future__ import annotations

from typing import Sequence

from markupsafe import Markup, escape

WIDTH, HEIGHT = 900, 200
LEFT, BOTTOM, TOP = 48, 34, 22  # room for the scale, the labels below and the legend above
MAX_LABEL = 14  # characters written under a group; its bars' titles carry the whole label


def bar_chart(title: str, labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[int]]],
              label_every: int = 1) -> Markup:
    """Grouped bars: one group per label, one bar per series (name, CSS class, values).

    Every bar carries a <title> with its exact value (shown on hover); every `label_every`-th
    label is written under its group. Styling comes from the page's classes, not inline styles,
    so the page's Content-Security-Policy can forbid inline styles.
    """
    peak = max((value for _, _, values in series for value in values), default=0) or 1
    plot_width, plot_height = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    group = plot_width / max(len(labels), 1)
    bar = max(group * 0.8 / max(len(series), 1), 1.0)
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}"'
             f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
             f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_height}" x2="{WIDTH - 8}" y2="{TOP + plot_height}"/>',
             f'<text class="scale" x="{LEFT - 6}" y="{TOP + 4}" text-anchor="end">{peak:,}</text>',
             f'<text class="scale" x="{LEFT - 6}" y="{TOP + plot_height}" text-anchor="end">0</text>']
    for number, (name, css, _) in enumerate(series):
        x = LEFT + number * 150
        parts.append(f'<rect class="{css}" x="{x}" y="4" width="10" height="10"/>'
                     f'<text class="legend" x="{x + 14}" y="13">{escape(name)}</text>')
    for index, label in enumerate(labels):
        left = LEFT + index * group + group * 0.1
        for number, (name, css, values) in enumerate(series):
            value = values[index]
            height = plot_height * value / peak
            parts.append(f'<rect class="{css}" x="{left + number * bar:.1f}" y="{TOP + plot_height - height:.1f}"'
                         f' width="{bar:.1f}" height="{height:.1f}"><title>{escape(label)}: {value:,}'
                         f' {escape(name)}</title></rect>')
        if index % label_every == 0:
            short = label if len(label) <= MAX_LABEL else label[:MAX_LABEL - 1] + "…"
            parts.append(f'<text class="label" x="{left + group * 0.4:.1f}" y="{HEIGHT - BOTTOM + 16}"'
                         f' text-anchor="middle">{escape(short)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
