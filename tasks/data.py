"""Cohort tasks: generate the synthetic cohort when configured, read and check the cohort."""

from __future__ import annotations

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger

from leukmodel.config import Config
from leukmodel.data import Cohort, build_cohort, check_folds_feasible, check_images, summarize
from leukmodel.data.synthetic import is_written, write_synthetic_cohort
from tasks.links import artifact_key
from tasks.retry import transient


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=transient, cache_policy=NO_CACHE)
def generate_synthetic(config: Config) -> bool:
    """Write the configured synthetic cohort to ``synthetic.root`` unless that very cohort is there already (a
    synthetic cohort written with other settings is replaced; its runs and feature cache are kept)."""
    cfg = config.synthetic
    if cfg is None or cfg.root is None or is_written(cfg.root, cfg):
        return False
    get_run_logger().info("writing a synthetic cohort of %d patients to %s", cfg.patients, cfg.root)
    write_synthetic_cohort(cfg.root, cfg)
    return True


@task(retries=2, retry_delay_seconds=5, retry_condition_fn=transient, cache_policy=NO_CACHE)
def read_cohort(config: Config) -> Cohort:
    """Read, pair and check the cohort (every image decoded once); the summary goes to the log and the UI."""
    logger = get_run_logger()
    cohort = build_cohort(config)
    summary = summarize(cohort).to_text()
    logger.info("cohort\n%s", summary)
    if cohort.has_images:
        logger.info("%d images readable", check_images(cohort, config.tiles, progress=False))
    check_folds_feasible(cohort, config.cv.n_folds)
    create_markdown_artifact(
        f"```\n{summary}\n```", key=artifact_key(config, "cohort-summary"), description=f"cohort {cohort.name}"
    )
    return cohort
