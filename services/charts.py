"""Server-rendered SVG charts for the dashboard: no JavaScript, no colour needed to read them.

Every bar carries its value as text and its label next to it; the SVG has a title and an
``aria-label`` summarising the data, so a screen reader and a black-and-white print both work.
Strings are XML-escaped here; the markup is passed to Jinja as safe.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr


def _fmt(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def bar_chart(title: str, items: list[tuple[str, float]], *, unit: str = "") -> str:
    """Horizontal bars, one per (label, value), value printed at the end of each bar."""
    width, label_w, bar_h, gap, top = 560, 170, 18, 6, 28
    height = top + max(1, len(items)) * (bar_h + gap) + 8
    peak = max((v for _, v in items), default=0.0) or 1.0
    summary = "; ".join(f"{lbl}: {_fmt(v)}{unit}" for lbl, v in items) or "no data"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f"aria-label={quoteattr(f'{title}: {summary}')}>",
        f"<title>{escape(title)}</title>",
        f'<text x="0" y="16" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    if not items:
        out.append(f'<text x="0" y="{top + 14}" font-size="12">Nothing in this period.</text>')
    for i, (label, value) in enumerate(items):
        y = top + i * (bar_h + gap)
        w = max(1.0, (width - label_w - 70) * (value / peak)) if value else 0.0
        out.append(
            f'<text x="{label_w - 6}" y="{y + 13}" font-size="12" text-anchor="end">'
            f"{escape(label[:28])}</text>"
        )
        out.append(
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" '
            f'fill="none" stroke="currentColor" stroke-width="1.5"/>'
        )
        # diagonal hatching: visible without colour, in print and high-contrast modes
        out.append(
            f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="currentColor" '
            f'fill-opacity="0.25"/>'
        )
        out.append(
            f'<text x="{label_w + w + 6:.1f}" y="{y + 13}" font-size="12">'
            f"{escape(_fmt(value) + unit)}</text>"
        )
    out.append("</svg>")
    return "".join(out)
