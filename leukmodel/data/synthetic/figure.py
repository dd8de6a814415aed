"""A figure of example images per class and style (docs/figures/synthetic_examples.png)."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from leukmodel.config import SyntheticConfig
from leukmodel.data.synthetic.cells import Style
from leukmodel.data.synthetic.plan import EXPRESSION_GROUPS, MORPHOLOGY_GROUPS, plan_patients
from leukmodel.data.synthetic.writer import cohort_image

STYLES: tuple[Style, ...] = ("segmented", "smear")


def example_grid(path: str | PathLike[str], cfg: SyntheticConfig | None = None, per_style: int = 2) -> Path:
    """Save a PNG grid: one column per class, ``per_style`` rows per style, each image from a different patient.

    The images are those the cohort of ``cfg`` (default: the default cohort) holds, drawn in the row's style.
    """
    from matplotlib.figure import Figure

    cfg = cfg or SyntheticConfig()
    patients = plan_patients(cfg)
    rows = [(style, k) for style in STYLES for k in range(per_style)]
    fig = Figure(figsize=(2.2 * len(cfg.classes), 2.3 * len(rows)))
    axes = fig.subplots(len(rows), len(cfg.classes), squeeze=False)
    for col, name in enumerate(cfg.classes):
        members = [p for p in patients if p.label == name]
        signal = members[0].signal
        axes[0, col].set_title(
            f"{name}\n{MORPHOLOGY_GROUPS[signal.morphology]}, {EXPRESSION_GROUPS[signal.expression]}", fontsize=10
        )
        for row, (style, k) in enumerate(rows):
            pixels, _ = cohort_image(cfg, members[k % len(members)], 1, style)
            axes[row, col].imshow(pixels)
            axes[row, col].set_xticks([])
            axes[row, col].set_yticks([])
            if col == 0:
                axes[row, col].set_ylabel(style, fontsize=10)
    fig.suptitle(f"Synthetic cohort (seed {cfg.seed}, signal {cfg.signal:g}, noise {cfg.noise:g})", fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    return path
