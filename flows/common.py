"""What every flow does with its ``config`` parameter."""

from __future__ import annotations

from leukmodel.config import Config, load_config


def resolve_config(config: Config | str) -> Config:
    """The config object itself, or the one in the YAML file at that path (deployments pass a path)."""
    return config if isinstance(config, Config) else load_config(config)
