"""Plain Markdown tables of result frames (for reports and docs)."""

from __future__ import annotations

import math

import pandas as pd


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub Markdown table; floats rounded to ``digits``, NaN shown as an empty cell."""
    header = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_cell(v, digits) for v in row) + " |")
    return "\n".join(lines)


def format_interval(value: float, low: float, high: float, digits: int = 3) -> str:
    """``0.950 [0.900, 0.990]`` (the interval left out when it is undefined)."""
    if math.isnan(value):
        return ""
    if math.isnan(low) or math.isnan(high):
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def _cell(value: object, digits: int) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value != 0 and abs(value) < 10**-digits:
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return str(value)
