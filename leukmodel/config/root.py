"""The one configuration object of a leukmodel run, and how it is read from and written to YAML."""

from __future__ import annotations

import difflib
import hashlib
import json
from os import PathLike
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from leukmodel.config.base import ResolvedPath, Section
from leukmodel.config.data import DataConfig
from leukmodel.config.features import BackboneConfig, FeaturesConfig, TilesConfig
from leukmodel.config.model import CVConfig, GenomicConfig, ModelConfig, TrainingConfig
from leukmodel.config.orchestration import ExplainConfig, RayConfig, TrackingConfig
from leukmodel.config.synthetic import SyntheticConfig
from leukmodel.errors import ConfigError


class Config(Section):
    """Everything a run needs. The CLI, the Prefect flows and the deployments all take this object.

    ``synthetic``, when given, makes the pipeline generate the cohort at ``data`` first if it is absent.
    Relative paths are resolved against the folder of the YAML file.
    """

    name: str = "cohort"
    seed: int = 0
    output_dir: ResolvedPath = Path("leukmodel-runs")
    synthetic: SyntheticConfig | None = None
    data: DataConfig
    tiles: TilesConfig = Field(default_factory=TilesConfig)
    backbone: BackboneConfig = Field(default_factory=BackboneConfig)
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    genomic: GenomicConfig = Field(default_factory=GenomicConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    cv: CVConfig = Field(default_factory=CVConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    ray: RayConfig = Field(default_factory=RayConfig)
    explain: ExplainConfig = Field(default_factory=ExplainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-compatible values (paths as absolute strings)."""
        return self.model_dump(mode="json")

    def to_yaml(self, path: str | PathLike[str]) -> Path:
        """Write this config to ``path`` so that :func:`load_config` reads back an equal object."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        return path

    def fingerprint(self) -> str:
        """A short hash of the whole config, for naming and caching."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def config_from_dict(
    values: dict[str, Any], *, base_dir: str | PathLike[str] | None = None, source: str = "config"
) -> Config:
    """Validate ``values`` into a :class:`Config`; errors name the source and the offending key."""
    try:
        return Config.model_validate(values, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise _config_error(exc, source) from None


def load_config(path: str | PathLike[str]) -> Config:
    """Read a YAML config file. Unknown or misspelt keys are errors that name the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config file not found", file=path, expected="a YAML file")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=path) from None
    if not isinstance(values, dict):
        raise ConfigError("the top level is not a mapping", file=path, expected="key: value pairs")
    return config_from_dict(values, base_dir=path.parent.resolve(), source=str(path))


def _config_error(exc: ValidationError, source: str) -> ConfigError:
    first = exc.errors()[0]
    if any(_union_member(part) for part in first["loc"]):  # the deepest error is in the member the input meant
        first = max(exc.errors(), key=lambda error: len(error["loc"]))
    loc = tuple(str(part) for part in first["loc"] if not _union_member(part))
    key = ".".join(loc)
    if first["type"] == "extra_forbidden":
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        problem = f"unknown key '{key}'{hint}"
        expected = "one of " + ", ".join(sorted(known)) if known else None
        return ConfigError(problem, file=source, field=key, expected=expected)
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    return ConfigError(f"{first['msg']}{more}", file=source, field=key or None)


def _union_member(part: object) -> bool:
    """Pydantic names the member of a union (``ImageSource``, ``list[ImageSource]``) in an error's location; config
    keys are lower case."""
    return isinstance(part, str) and (part[:1].isupper() or "[" in part)


def _known_keys(parent: tuple[str, ...]) -> list[str]:
    """The keys a section accepts, found by walking the model classes along ``parent``."""
    model: type[BaseModel] | None = Config
    for part in parent:
        if part.isdigit():  # an item of a list section
            continue
        if model is None or part not in model.model_fields:
            return []
        model = _section_type(model.model_fields[part].annotation)
    return list(model.model_fields) if model is not None else []


def _section_type(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _section_type(arg)
        if found is not None:
            return found
    return None
