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
        config = Config.model_validate(values, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise _config_error(exc, source) from None
    _check_folders(config, source)
    return config


def _check_folders(config: Config, source: str) -> None:
    """The folders leukmodel writes into can be folders: checked when the config is read, before any work."""
    folders = {
        "output_dir": config.output_dir,
        "features.cache_dir": config.features.cache_dir,
        "ray.storage_path": config.ray.storage_path,
    }
    for field, folder in folders.items():
        if isinstance(folder, str):  # ray.storage_path: a resolved path, or a URI (s3://...) checked where used
            folder = None if "://" in folder else Path(folder)
        if folder is None:
            continue
        for path in [folder, *folder.parents]:
            if path.exists():
                if not path.is_dir():
                    what = "is a file" if path == folder else f"cannot be made: {path} is a file"
                    raise ConfigError(f"{folder} {what}", file=source, field=field, expected="a folder (or none yet)")
                break
        for images in (s.root.resolve() for s in config.data.image_sources):
            if folder.resolve().is_relative_to(images):
                raise ConfigError(
                    f"{folder} is inside the image folder {images}: what leukmodel writes there would be read as data",
                    file=source,
                    field=field,
                    expected="a folder outside data.images.root",
                )


def load_config(path: str | PathLike[str]) -> Config:
    """Read a YAML config file. Unknown or misspelt keys are errors that name the key."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config file not found", file=path, expected="a YAML file")
    try:
        values = yaml.load(path.read_text(encoding="utf-8-sig"), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"is not UTF-8 text (byte {exc.start})", file=path, expected="a YAML file in UTF-8") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=path) from None
    if values is None:
        raise ConfigError("the file is empty", file=path, expected="a YAML mapping with at least a data: section")
    if not isinstance(values, dict):
        raise ConfigError("the top level is not a mapping", file=path, expected="key: value pairs")
    return config_from_dict(values, base_dir=path.parent.resolve(), source=str(path))


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key given twice in one mapping is an error (PyYAML keeps the last silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key '{key}' appears twice (lines {seen[key]} and {key_node.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


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
