"""Building blocks shared by every configuration section."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationInfo


class Section(BaseModel):
    """A configuration section: unknown keys are errors, values are checked on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


def _resolve(path: Path, info: ValidationInfo) -> Path:
    """Resolve a relative path against the folder of the config file it came from."""
    path = path.expanduser()
    if path.is_absolute():
        return path
    base = (info.context or {}).get("base_dir")
    return (Path(base) / path).resolve() if base is not None else path.resolve()


ResolvedPath = Annotated[Path, AfterValidator(_resolve)]
"""A path; when relative, it is taken relative to the config file's folder (or the working directory)."""


def _resolve_location(location: str, info: ValidationInfo) -> str:
    return location if "://" in location else str(_resolve(Path(location), info))


ResolvedLocation = Annotated[str, BeforeValidator(str), AfterValidator(_resolve_location)]
"""A URI (``scheme://...``: ``s3://bucket/x``, ``file:///x``) as given, or a path resolved like :data:`ResolvedPath`."""
