"""Which task failures are worth a retry."""

from __future__ import annotations

from typing import Any

from prefect.client.schemas.objects import State, TaskRun

from leukmodel.errors import LeukInputError


def transient(task: Any, task_run: TaskRun, state: State) -> bool:
    """A Prefect ``retry_condition_fn``: retry anything but bad input (a :class:`~leukmodel.errors.ConfigError`,
    :class:`~leukmodel.errors.CohortError` or other :class:`~leukmodel.errors.LeukInputError`), which fails the
    same way on every attempt."""
    return not isinstance(state.data, LeukInputError)
