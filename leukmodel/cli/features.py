"""``leukmodel featurize``: fill the feature cache for a cohort."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show a progress bar.")
def featurize(config_path: Path, progress: bool) -> None:
    """Encode every image of the cohort CONFIG describes into the feature cache (features.cache_dir).

    Only images whose features are not cached yet are computed, so a re-run after a crash resumes and a
    second run does nothing. Several processes may fill one cache at once.
    """
    from leukmodel.config import load_config
    from leukmodel.data import build_cohort
    from leukmodel.errors import CohortError
    from leukmodel.features import featurize as fill_cache

    config = load_config(config_path)
    cohort = build_cohort(config)
    images = list(dict.fromkeys(path for sample in cohort.samples for path in sample.images))
    if not images:
        raise CohortError("the cohort has no images to featurize", file=config_path, field="data.images")
    report = fill_cache(images, config, progress=progress)
    click.echo(report.summary())
