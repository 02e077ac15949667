"""The report as one HTML file: inline SVG charts drawn by pygal, a little CSS, no script.

pygal draws each chart as SVG in Python, so the page needs no charting JavaScript, no network
and no server: it opens offline from disk, in a mail attachment or a CI artifact. pygal puts a
`<script>` with the chart's configuration (its labels too) in every SVG, for its optional
tooltips; it is removed, so the page carries no script at all. Every text (page titles, search
queries, questions) is escaped: pygal's XML writer escapes what it puts in the SVG, and
`html.escape` the rest.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

import pygal
from pygal.style import Style

from analytics_assets.defs.report.charts import Chart

Rows = Sequence[Sequence[Any]]
WIDTH = 900
STYLE = Style(
    background="transparent",
    plot_background="transparent",
    colors=("#3b6fb6", "#c2410c"),
    font_family="system-ui, sans-serif",
)
CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 960px; color: #1f2937; }
h1 { font-size: 1.6rem; margin-bottom: 0.2rem; }
.meta { color: #6b7280; margin-top: 0; }
section { margin: 2rem 0; }
h2 { font-size: 1.15rem; }
.empty { color: #6b7280; font-style: italic; }
"""


def label(parts: Sequence[Any]) -> str:
    """A row's label: its text parts joined, the first standing for the row (a null title is
    '(untitled)')."""
    first, *rest = parts
    words = [str(first) if first is not None else "(untitled)"]
    words += [str(part) for part in rest if part is not None]
    return " · ".join(words)


def chart_svg(chart: Chart, rows: Rows) -> str:
    """`chart` over `rows` (label parts, then the value) as an inline SVG element."""
    config: dict[str, Any] = {
        "js": [],  # no script from a CDN: the page must open offline
        "disable_xml_declaration": True,
        "show_legend": False,
        "width": WIDTH,
        "height": 120 + 28 * len(rows) if chart.kind == "bar" else 360,
        "explicit_size": True,
        "style": STYLE,
        "print_values": chart.kind == "bar",
        "value_formatter": lambda value: f"{value:,.{chart.decimals}f}",
        "truncate_label": 60,
        "include_x_axis": True,  # counts from zero
    }
    drawing: Any
    if chart.kind == "line":
        drawing = pygal.Line(x_label_rotation=30, show_minor_x_labels=False, **config)
        drawing.x_labels = [str(row[0]) for row in rows]
        drawing.x_labels_major_every = max(1, len(rows) // 10)
    else:
        drawing = pygal.HorizontalBar(**config)
        drawing.x_labels = [label(row[:-1]) for row in reversed(rows)]  # the first on top
    drawing.add(
        chart.value,
        [_number(row[-1]) for row in (rows if chart.kind == "line" else reversed(rows))],
    )
    tree = drawing.render_tree()
    for parent in list(tree.iter()):
        for child in [c for c in parent if c.tag == "script"]:
            parent.remove(child)
    return ElementTree.tostring(tree, encoding="unicode")


def _number(value: Any) -> float | int:
    return value if isinstance(value, int) else float(value)


def render_report(
    charts: Sequence[tuple[Chart, Rows]], *, generated_at: datetime, source: str
) -> str:
    """The whole page: a header saying when and from where, then one section per chart."""
    sections = []
    for chart, rows in charts:
        body = (
            chart_svg(chart, rows) if rows else f'<p class="empty">{html.escape(chart.empty)}</p>'
        )
        sections.append(
            f'<section id="{chart.id}" data-rows="{len(rows)}">'
            f"<h2>{html.escape(chart.title)}</h2>{body}</section>"
        )
    stamp = generated_at.strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        "<title>GitBook insights</title>"
        f"<style>{CSS}</style></head><body>"
        "<h1>GitBook insights</h1>"
        f'<p class="meta">Built {html.escape(stamp)} from the marts in {html.escape(source)}.</p>'
        + "".join(sections)
        + "</body></html>\n"
    )
