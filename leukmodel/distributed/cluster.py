"""Starting Ray, or attaching to a running cluster, from the config."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager

import ray

from leukmodel.config import Config

logger = logging.getLogger(__name__)


def init_ray(config: Config) -> str:
    """Start Ray in this process, or attach to ``ray.address`` / ``RAY_ADDRESS``, with ``ray.runtime_env``; a no-op
    when Ray is up.

    Returns where Ray runs, in words (with the dashboard URL when there is one).
    """
    if not ray.is_initialized():
        address = config.ray.address or os.environ.get("RAY_ADDRESS")
        runtime_env = config.ray.runtime_env
        if address:
            context = ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        else:
            context = ray.init(
                num_cpus=config.ray.num_cpus,
                include_dashboard=config.ray.dashboard,
                dashboard_host="127.0.0.1",
                runtime_env=runtime_env,
                log_to_driver=False,
            )
        dashboard = getattr(context, "dashboard_url", None)
        where = f"Ray at {context.address_info.get('address', address or 'local')}"
        if dashboard:
            where += f", dashboard http://{dashboard}"
        logger.info(where)
        return where
    return "Ray (already running)"


@contextmanager
def ray_session(config: Config) -> Iterator[str]:
    """Ray for the duration of a block: shut down afterwards only if this block started it."""
    started = not ray.is_initialized()
    where = init_ray(config)
    try:
        yield where
    finally:
        if started:
            ray.shutdown()


def cluster_gpus() -> float:
    """GPUs Ray can schedule on (0 on a CPU-only machine or cluster)."""
    return float(ray.cluster_resources().get("GPU", 0.0))


def cluster_cpus() -> float:
    return float(ray.cluster_resources().get("CPU", 1.0))


def trial_resources(config: Config) -> dict[str, float]:
    """Resources of one Ray task or trial: a GPU share where GPUs exist, CPUs otherwise."""
    cpus = min(config.ray.cpus_per_trial, cluster_cpus())
    if cluster_gpus() > 0 and config.ray.gpus_per_trial > 0:
        return {"cpu": cpus, "gpu": config.ray.gpus_per_trial}
    return {"cpu": cpus}


def assigned_threads(default: int = 1) -> int:
    """CPU threads for torch inside a Ray worker: the CPUs Ray gave this task or trial."""
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", default)
    return max(1, int(cpus))
