"""``leukmodel demo``: the whole job on the embedded synthetic default."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("leukmodel-demo"),
    show_default=True,
    help="Folder for the synthetic cohort and all results.",
)
@click.option("--patients", default=60, show_default=True, help="Patients in the synthetic cohort.")
@click.option("--seed", default=0, show_default=True)
def demo(out: Path, patients: int, seed: int) -> None:
    """Generate the synthetic cohort and validate it."""
    from leukmodel.config import SyntheticConfig, load_config
    from leukmodel.data import build_cohort, check_folds_feasible, check_images, summarize
    from leukmodel.data.synthetic import write_synthetic_cohort

    config_path = write_synthetic_cohort(out / "cohort", SyntheticConfig(patients=patients, seed=seed))
    config = load_config(config_path)
    cohort = build_cohort(config)
    click.echo(summarize(cohort).to_text())
    check_images(cohort, config.tiles)
    check_folds_feasible(cohort, config.cv.n_folds)
    click.echo(f"cohort ready: {config_path}")
