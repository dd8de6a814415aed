"""The ``leukmodel`` command line. Subcommands are imported only when run, so ``--help`` is instant."""

from __future__ import annotations

import importlib

import click

from leukmodel.errors import LeukInputError

# subcommand -> "module:function"; each module holds one family of commands.
COMMANDS: dict[str, str] = {
    "synth": "leukmodel.cli.data:synth",
    "validate": "leukmodel.cli.data:validate",
    "demo": "leukmodel.cli.pipeline:demo",
    "cv": "leukmodel.cli.cv:cv",
    "run": "leukmodel.cli.pipeline:run",
    "featurize": "leukmodel.cli.features:featurize",
    "predict": "leukmodel.cli.predict:predict",
    "explain": "leukmodel.cli.explain:explain",
    "report": "leukmodel.cli.explain:report",
    "evaluate": "leukmodel.cli.evaluate:evaluate",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand is invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LeukInputError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="leukmodel")
def cli() -> None:
    """Weakly supervised morpho-molecular leukemia subtyping (images + gene expression)."""


def main() -> None:
    cli()
