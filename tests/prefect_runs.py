"""Reading what a flow run left in the Prefect API: its subflow runs, task states, log lines and artifacts."""

from __future__ import annotations

from uuid import UUID

from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterParentFlowRunId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import TaskRun


async def flow_run_tree(client: PrefectClient, root: UUID) -> list[UUID]:
    """The flow run ``root`` and all its subflow runs, at any depth."""
    found, frontier = [root], [root]
    while frontier:
        children = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=frontier))
        )
        frontier = [run.id for run in children if run.id not in found]
        found += frontier
    return found


async def task_runs(client: PrefectClient, root: UUID) -> dict[str, TaskRun]:
    """Task name (without the run suffix) -> task run, over the flow run and its subflows."""
    ids = await flow_run_tree(client, root)
    runs = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
    return {run.name.rsplit("-", 1)[0]: run for run in runs}


async def task_states(client: PrefectClient, root: UUID) -> dict[str, str]:
    """Task name (without the run suffix) -> state name, over the flow run and its subflows."""
    return {name: run.state.name for name, run in (await task_runs(client, root)).items()}


async def log_lines(client: PrefectClient, root: UUID) -> list[tuple[str, str]]:
    """``(logger name, message)`` of every log of the flow run, its tasks and its subflows."""
    ids = await flow_run_tree(client, root)
    lines, offset = [], 0
    while True:
        page = await client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)), limit=200, offset=offset)
        lines += [(log.name, log.message) for log in page]
        if len(page) < 200:
            return lines
        offset += 200


async def artifacts(client: PrefectClient, root: UUID) -> dict[str, tuple[str, str]]:
    """Artifact key -> ``(type, data)`` of the flow run and its subflows."""
    ids = await flow_run_tree(client, root)
    found = await client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids)))
    return {a.key: (a.type, a.data) for a in found if a.key}


async def subflow_names(client: PrefectClient, root: UUID) -> list[str]:
    """The flow names of the subflow runs of ``root`` (any depth), sorted."""
    ids = (await flow_run_tree(client, root))[1:]
    runs = await client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=ids)))
    return sorted([(await client.read_flow(run.flow_id)).name for run in runs])
