"""Options that several commands share."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable)


def served_model_options(tracking_uri_default: str) -> Callable[[F], F]:
    """``--tracking-uri`` (where ``models:/`` URIs are found; ``tracking_uri_default`` says what an absent one
    means besides MLFLOW_TRACKING_URI) and ``--device`` of a command that loads a registered model."""

    def decorate(command: F) -> F:
        command = click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")(
            command
        )
        return click.option(
            "--tracking-uri",
            envvar="MLFLOW_TRACKING_URI",
            help=f"MLflow tracking URI {tracking_uri_default}.",
        )(command)

    return decorate
