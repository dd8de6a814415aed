"""What a served model is: the files it is made of and ``serving.json``, the record that ties them together.

A logged leukmodel pyfunc holds these MLflow artifacts (keys of ``context.artifacts``)::

    <model>                  the final ModelBundles, one per served model (``fusion``, ``image``, ``genomic``;
                             :func:`~leukmodel.models.registry.served_models`), ``.pt`` files readable with
                             ``torch.load(weights_only=True)``
    backbone                 the tile encoder's state dict (without the classifier ``fc``), so a serving machine
                             needs neither internet nor torchvision's weights cache
    serving                  serving.json: the fields of :class:`ServingSpec`
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

from leukmodel.config import TilesConfig
from leukmodel.config.model import ModelName
from leukmodel.errors import ConfigError
from leukmodel.features.backbone import BackboneInfo

SPEC_FORMAT = "leukmodel-serving/1"
BACKBONE_KEY = "backbone"
SPEC_KEY = "serving"


@dataclass(frozen=True)
class ServingSpec:
    """Everything besides weights that turns files into a prediction.

    Attributes:
        cohort: the name of the cohort the models were trained on.
        tags: provenance flags (the cohort's ``pairing`` and ``synthetic``, the backbone's ``pretrained``), carried
            by every prediction.
        classes: the output order of every model.
        genes: the per-gene expression input order of the expression models (empty without them).
        models: the models present, at most one per combination of modalities (e.g. ``fusion``, ``image``,
            ``genomic``); a sample goes to the one that reads exactly its modalities.
        backbone: the training backbone's :class:`~leukmodel.features.backbone.BackboneInfo` fields; its
            ``weights_sha256`` is checked against the bundled weights whenever they are loaded.
        precision: the precision the training features were computed in (``bf16`` or ``fp32``).
        tiles: the training run's ``tiles`` config section.
        batch_size: tiles per backbone forward pass.
        top_tiles: how many tiles a prediction lists by default.
        config_fingerprint: :meth:`~leukmodel.config.Config.fingerprint` of the training run.
    """

    cohort: str
    tags: dict[str, str]
    classes: list[str]
    genes: list[str]
    models: list[ModelName]
    backbone: dict[str, Any]
    precision: str
    tiles: dict[str, Any]
    batch_size: int
    top_tiles: int
    config_fingerprint: str
    format: str = field(default=SPEC_FORMAT)

    @property
    def backbone_info(self) -> BackboneInfo:
        return BackboneInfo(**self.backbone)

    @property
    def tiles_config(self) -> TilesConfig:
        return TilesConfig.model_validate(self.tiles)

    def save(self, path: str | PathLike[str]) -> Path:
        path = Path(path)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | PathLike[str]) -> ServingSpec:
        """Read ``serving.json``.

        Raises:
            ConfigError: the file is not a leukmodel serving record of this format.
        """
        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the serving record ({exc})", file=path, expected=SPEC_FORMAT) from None
        if not isinstance(values, dict) or values.get("format") != SPEC_FORMAT:
            found = values.get("format") if isinstance(values, dict) else type(values).__name__
            raise ConfigError(f"format {found!r}", file=path, field="format", expected=SPEC_FORMAT)
        return cls(**values)
