"""What every flow does: read its ``config`` parameter, and show leukmodel's own log lines in the flow run's logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from prefect.logging.handlers import APILogHandler

from leukmodel.config import Config, load_config


def resolve_config(config: Config | str) -> Config:
    """The config object itself, or the one in the YAML file at that path (deployments pass a path)."""
    return config if isinstance(config, Config) else load_config(config)


@contextmanager
def leukmodel_logs() -> Iterator[None]:
    """Send the ``leukmodel`` loggers' INFO and above (samples left out, cache hits, resumed runs) to the logs of
    the Prefect flow or task run that emits them, for the block. A no-op where a handler is already attached
    (an outer flow, or ``PREFECT_LOGGING_EXTRA_LOGGERS=leukmodel``). Lines logged inside Ray workers stay in
    the workers' logs."""
    logger = logging.getLogger("leukmodel")
    if any(isinstance(h, APILogHandler) for h in logger.handlers):
        yield
        return
    handler, level = APILogHandler(), logger.level
    handler.setLevel(logging.INFO)
    logger.addHandler(handler)
    if level == logging.NOTSET or level > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
