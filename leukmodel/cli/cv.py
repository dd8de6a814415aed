"""``leukmodel cv``: cross-validate the fusion model and its baselines in this process."""

from __future__ import annotations

import logging
from pathlib import Path

import click


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (default: <output_dir>/cv of the config).",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress.")
def cv(config_path: Path, out: Path | None, progress: bool) -> None:
    """Run the patient-grouped cross-validation of CONFIG's cv.models; write metrics and predictions.

    Features missing from the cache are computed first. The output folder holds the out-of-fold predictions,
    metrics with bootstrap 95% intervals, confusion matrices, McNemar tests, per-epoch histories, the folds,
    summary.md and run.json (see leukmodel.training.cv), and each fold's model bundle.
    """
    from leukmodel.config import load_config
    from leukmodel.data import build_cohort
    from leukmodel.features import featurize, training_bags
    from leukmodel.models.registry import uses_images
    from leukmodel.training import run_cross_validation
    from leukmodel.training.cv import check_output_dir
    from leukmodel.training.plan import resolve_models

    if progress:
        logging.basicConfig(format="%(message)s")
        for name in ("leukmodel.features", "leukmodel.training"):
            logging.getLogger(name).setLevel(logging.INFO)
    config = load_config(config_path)
    out = out or config.output_dir / "cv"
    check_output_dir(out)  # before the features are computed, not after the training
    cohort = build_cohort(config)
    config = resolve_models(config, cohort)
    bags = {}
    if any(uses_images(m) for m in config.cv.models):
        images = list(dict.fromkeys(path for sample in cohort.samples for path in sample.images))
        featurize(images, config, progress=progress)
        bags = training_bags(cohort, config)
    result = run_cross_validation(cohort, bags, config, out_dir=out)
    click.echo(result.to_markdown())
    click.echo(f"results: {out}")
