"""The report screenshots of docs/explain.md: the top (flags, metrics, McNemar), the curves, one explained sample.

    python docs/figures/report_screenshots.py leukmodel-demo/cohort/runs/cv-*/report/report.html docs/figures

Needs playwright (the test extra) and Debian's chromium; the PNGs are quantised to 256 colours to stay small.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright

NAMES = ("report.png", "report_curves.png", "report_sample.png")
HEADING_TOP = "(text) => [...document.querySelectorAll('h2')].find(h => h.textContent.startsWith(text))"


def heading_top(page, text: str) -> float:
    return page.evaluate(f"() => ({HEADING_TOP})({text!r}).getBoundingClientRect().top + window.scrollY")


def main(report: Path, out: Path) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(report.resolve().as_uri(), wait_until="load")
        curves, explanations = heading_top(page, "ROC"), heading_top(page, "Explanations")
        clip = {"x": 0, "y": 0, "width": 1280, "height": curves - 10}
        page.screenshot(path=str(out / NAMES[0]), clip=clip, full_page=True)
        clip = {"x": 0, "y": curves - 10, "width": 1280, "height": explanations - curves}
        page.screenshot(path=str(out / NAMES[1]), clip=clip, full_page=True)
        page.locator(".sample").first.screenshot(path=str(out / NAMES[2]))
        browser.close()
    for name in NAMES:
        image = Image.open(out / name).convert("RGB")
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(out / name)
        print(out / name, image.size)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
