"""HTML building blocks of the self-contained report: escaped tables, embedded images, the page shell."""

from __future__ import annotations

import base64
import html
import io
import numbers
from os import PathLike
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2330; background: #f6f7f9; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 32px 64px; }
h1 { font-size: 1.6em; margin: 0 0 4px; }
h2 { font-size: 1.25em; margin: 36px 0 10px; border-bottom: 2px solid #d5d9e0; padding-bottom: 4px; }
h3 { font-size: 1.05em; margin: 22px 0 8px; }
.subtitle { color: #5b6472; margin: 0 0 16px; }
.flags { display: flex; flex-wrap: wrap; gap: 8px; margin: 12px 0; }
.flag { padding: 6px 12px; border-radius: 16px; font-weight: 600; font-size: 0.92em; border: 1px solid; }
.flag.warn { background: #fff1e6; border-color: #e8893a; color: #8a3f00; }
.flag.ok { background: #eaf6ec; border-color: #5aa96a; color: #1f5a2b; }
.notes { background: #fff8e1; border-left: 4px solid #e0a800; padding: 8px 16px; margin: 12px 0; }
.notes li { margin: 4px 0; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.9em; background: white; }
th, td { border: 1px solid #d5d9e0; padding: 4px 10px; text-align: left; }
th { background: #eef1f5; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.figures { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
figure { margin: 0; background: white; border: 1px solid #d5d9e0; padding: 8px; max-width: 100%; }
figure img { display: block; max-width: 100%; height: auto; }
figcaption { font-size: 0.85em; color: #4a5260; margin-top: 6px; max-width: 760px; }
.sample { background: white; border: 1px solid #d5d9e0; border-radius: 6px; padding: 8px 18px 18px; margin: 16px 0; }
.sample figure { border: none; padding: 0; margin: 10px 0; }
.pair { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.pair figure { flex: 1 1 calc(50% - 12px); max-width: calc(50% - 6px); }
.right { color: #1f7a33; font-weight: 600; }
.wrong { color: #b3261e; font-weight: 600; }
details { margin: 8px 0; }
pre { background: white; border: 1px solid #d5d9e0; padding: 10px; overflow-x: auto; font-size: 0.8em; }
"""


def escape(text: object) -> str:
    return html.escape(str(text), quote=True)


def table(frame: pd.DataFrame, digits: int = 3) -> str:
    """An HTML table of ``frame`` (floats rounded to ``digits``, NaN as an empty cell, everything escaped)."""
    head = "".join(f"<th>{escape(c)}</th>" for c in frame.columns)
    rows = ["<tr>" + "".join(_cell(value, digits) for value in row) + "</tr>" for row in frame.itertuples(index=False)]
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def figure_uri(figure: Figure, dpi: int = 100) -> str:
    """A ``data:image/png;base64,...`` URI of a matplotlib figure."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def png_uri(path: str | PathLike[str]) -> str:
    """A ``data:image/png;base64,...`` URI of a PNG file."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def image(uri: str, alt: str, caption: str | None = None) -> str:
    """A ``<figure>`` holding an embedded image and an optional caption."""
    text = f"<figcaption>{escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{escape(alt)}">{text}</figure>'


def page(title: str, body: str) -> str:
    """A complete HTML document: no scripts, no external resources (the favicon is an empty data URI)."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>\n"
    )


def _cell(value: object, digits: int) -> str:
    """A table cell: numbers right-aligned (floats rounded), missing values empty, text escaped."""
    if isinstance(value, (bool, np.bool_, str)):
        return f"<td>{escape(value)}</td>"
    if value is None or pd.isna(value):
        return "<td></td>"
    if isinstance(value, numbers.Integral):
        return f'<td class="num">{value}</td>'
    if isinstance(value, numbers.Real):
        small = value != 0 and abs(value) < 10**-digits
        return f'<td class="num">{value:.2e}</td>' if small else f'<td class="num">{value:.{digits}f}</td>'
    return f"<td>{escape(value)}</td>"
