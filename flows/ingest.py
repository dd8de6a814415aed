"""The ingest step: the configured synthetic cohort written if needed, the cohort read, paired and checked."""

from __future__ import annotations

from prefect import flow

from flows.common import leukmodel_logs, resolve_config
from leukmodel.config import Config
from leukmodel.data import Cohort
from tasks.data import generate_synthetic, read_cohort


@flow(name="ingest")
def ingest(config: Config | str) -> Cohort:
    """Read and check the cohort ``config`` describes (a Config, or the path of its YAML file)."""
    config = resolve_config(config)
    with leukmodel_logs():
        generate_synthetic(config)
        return read_cohort(config)
