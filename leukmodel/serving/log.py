"""Logging the final models as one MLflow pyfunc that bundles its preprocessing and its backbone weights."""

from __future__ import annotations

import base64
import shutil
import tempfile
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import cv2
import mlflow
import numpy as np
import pandas as pd
import torch
from mlflow.models.model import ModelInfo
from packaging.version import Version

import leukmodel
from leukmodel.config import Config
from leukmodel.data.synthetic.cells import GIEMSA, draw_image
from leukmodel.device import resolve_device
from leukmodel.errors import ConfigError
from leukmodel.features.backbone import BackboneInfo, load_backbone
from leukmodel.features.device import resolve_precision
from leukmodel.models.registry import deep_models, served_models
from leukmodel.serving.expression import training_means
from leukmodel.serving.inputs import SampleInput, read_images
from leukmodel.serving.predictor import Predictor
from leukmodel.serving.pyfunc import signature
from leukmodel.serving.spec import BACKBONE_KEY, SPEC_KEY, ServingSpec
from leukmodel.training.bundle import ModelBundle

MODEL_CODE = Path(__file__).with_name("model_code.py")
PACKAGE = Path(leukmodel.__file__).parent
RUN_TAG = "leukmodel.backbone_sha256"
"""The run tag in which tracking records ``BackboneInfo.tags()["backbone_sha256"]`` (its first 16 hex digits)."""
REQUIREMENTS = (
    "torch",
    "torchvision",
    "mlflow",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "statsmodels",
    "opencv-python-headless",
    "pillow",
    "h5py",
    "pydantic",
    "pyyaml",
    "tqdm",
)
"""The distributions that loading the pyfunc imports (leukmodel's own code travels in the model, ``code_paths``)."""


def log_model(
    bundles: Mapping[str, ModelBundle],
    config: Config,
    name: str = "model",
    *,
    backbone_info: BackboneInfo | None = None,
) -> ModelInfo:
    """Log the final models as the leukmodel pyfunc, in the active run (or a new one).

    The logged model holds the bundles (one deep model per combination of modalities,
    :func:`~leukmodel.models.registry.served_models`: ``fusion``, and the ``image`` / ``genomic`` models that
    answer when a modality is missing), the backbone's state dict loaded from ``config.backbone``, and ``serving.json``
    (classes, genes, tiling, backbone identity and precision). Before logging, the backbone's SHA-256 is checked
    against ``backbone_info`` (the backbone that computed the training features) and against the active run's
    ``leukmodel.backbone_sha256`` tag, when given; and the model is loaded from the files to be logged and
    predicts its input example (a synthetic cell and the training means), so a model that cannot serve is never
    logged.

    The model carries leukmodel's own code (``code/leukmodel``, which MLflow puts on ``sys.path`` when it loads the
    model) and its requirements.txt pins the distributions that code imports, at the installed versions as the
    package index knows them: an environment made from requirements.txt alone loads and serves it
    (``mlflow models serve`` with any ``--env-manager``).

    Args:
        bundles: the final models by name (e.g. ``fusion``, ``image``, ``genomic``; at least one, at most one per
            combination of modalities).
        config: the run's configuration (tiling, backbone, features, ``explain.top_tiles``).
        name: the model's name in the run (the pyfunc is at ``runs:/<run id>/<name>``).
        backbone_info: the backbone the training features were computed with.

    Returns:
        MLflow's :class:`~mlflow.models.model.ModelInfo`; register ``model_info.model_uri``.

    Raises:
        ConfigError: the bundles disagree (classes, genes, tiling, backbone), or the backbone's weights are not
            the ones the features were computed with.
    """
    _check_bundles(bundles, config)
    resnet, info = load_backbone(config.backbone)
    _check_backbone(info, backbone_info, bundles)
    precision = resolve_precision(config.features.precision, resolve_device(config.features.device))
    first = next(iter(bundles.values()))
    expression_bundle = next((b for b in bundles.values() if b.genomic_transform is not None), None)
    spec = ServingSpec(
        cohort=config.name,
        tags={**first.tags, "pretrained": info.tags()["pretrained"]},
        classes=list(first.classes),
        genes=[] if expression_bundle is None else list(expression_bundle.genes),
        models=served_models(list(bundles)),
        backbone={k: getattr(info, k) for k in BackboneInfo.__dataclass_fields__},
        precision=precision,
        tiles=config.tiles.model_dump(mode="json"),
        batch_size=config.features.batch_size,
        top_tiles=config.explain.top_tiles,
        config_fingerprint=config.fingerprint(),
    )
    example = _input_example(spec, bundles)
    with tempfile.TemporaryDirectory(prefix="leukmodel-serving-") as tmp:
        folder = Path(tmp)
        artifacts = {m: str(bundles[m].save(folder / f"{m}.pt")) for m in spec.models}
        state = {k: v for k, v in resnet.state_dict().items() if not k.startswith("fc.")}
        torch.save(state, folder / "backbone.pt")
        artifacts[BACKBONE_KEY] = str(folder / "backbone.pt")
        artifacts[SPEC_KEY] = str(spec.save(folder / "serving.json"))
        _check_serves(artifacts, example)
        code = shutil.copytree(PACKAGE, folder / "code" / "leukmodel", ignore=shutil.ignore_patterns("__pycache__"))
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(MODEL_CODE),
            code_paths=[str(code)],
            artifacts=artifacts,
            signature=signature(spec.top_tiles),
            input_example=example,
            pip_requirements=_requirements(),
            model_config={"device": "auto", "warm_up": True},
            metadata={
                "leukmodel": {
                    "format": spec.format,
                    "cohort": spec.cohort,
                    "classes": spec.classes,
                    "models": spec.models,
                    "n_genes": len(spec.genes),
                    "backbone": info.arch,
                    "backbone_sha256": info.weights_sha256,
                    "pretrained": info.pretrained,
                    **spec.tags,
                }
            },
        )


def _check_bundles(bundles: Mapping[str, ModelBundle], config: Config) -> None:
    if not bundles:
        raise ConfigError("no model bundles to log", field="bundles", expected=f"any of {', '.join(deep_models())}")
    values = config.to_dict()
    first = next(iter(bundles.values()))
    genes: list[str] | None = None
    for key, bundle in bundles.items():
        where = f"bundles[{key}]"
        if key not in served_models(list(bundles)) or bundle.model_name != key:
            raise ConfigError(
                f"key '{key}' holds a {bundle.model_name} model",
                field=where,
                expected="one deep model per combination of modalities, each under its own name "
                f"({', '.join(deep_models())})",
            )
        if bundle.classes != first.classes:
            raise ConfigError(
                f"classes {list(bundle.classes)} differ from {list(first.classes)}",
                field=where,
                expected="one class order",
            )
        for section in ("tiles", "backbone"):
            if bundle.config[section] != values[section]:
                raise ConfigError(
                    f"its training config's '{section}' differs from the config given",
                    field=where,
                    expected=f"bundles trained on features of config.{section}",
                )
        if bundle.genomic_transform is not None:
            if genes is not None and bundle.genes != genes:
                raise ConfigError(
                    "its genes differ from another model's", field=where, expected="models of one cohort's gene set"
                )
            genes = bundle.genes


def _check_backbone(info: BackboneInfo, recorded: BackboneInfo | None, bundles: Mapping[str, ModelBundle]) -> None:
    expected = "the backbone that computed the training features (same backbone config and weights file)"
    if recorded is not None and recorded.weights_sha256 != info.weights_sha256:
        raise ConfigError(
            f"backbone weights {info.weights_sha256[:16]}... differ from the training features' "
            f"{recorded.weights_sha256[:16]}...",
            field="backbone.weights",
            expected=expected,
        )
    run = mlflow.active_run()
    tagged = mlflow.get_run(run.info.run_id).data.tags.get(RUN_TAG) if run is not None else None
    if tagged and not info.weights_sha256.startswith(tagged):
        raise ConfigError(
            f"backbone weights {info.weights_sha256[:16]}... differ from the run's tag {RUN_TAG}={tagged}",
            field="backbone.weights",
            expected=expected,
        )
    for key, bundle in bundles.items():
        if (
            bundle.feature_dim
            and not bundle.run_config.training.finetune_layer4
            and bundle.feature_dim != info.feature_dim
        ):
            raise ConfigError(
                f"takes {bundle.feature_dim}-dimensional tile features, the backbone gives {info.feature_dim}",
                field=f"bundles[{key}]",
                expected=expected,
            )


def _input_example(spec: ServingSpec, bundles: Mapping[str, ModelBundle]) -> pd.DataFrame:
    """One sample: a synthetic cell image as a base64 PNG (no patient data) and the training-mean profile."""
    row: dict[str, object] = {"sample_id": "example"}
    if any(bundles[m].feature_dim for m in spec.models):
        size = spec.tiles["patch_size"]
        rgb = draw_image(np.random.default_rng(0), size=size, t=0.5, style="segmented", noise=1.0, stain=GIEMSA)
        png = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()
        row["images"] = ["data:image/png;base64," + base64.b64encode(png).decode("ascii")]
    expression = next((bundles[m] for m in spec.models if bundles[m].genomic_transform is not None), None)
    if expression is not None:
        row["expression"] = [round(float(v), 4) for v in training_means(expression.genomic_transform)]
    return pd.DataFrame([row])


def _check_serves(artifacts: Mapping[str, str], example: pd.DataFrame) -> None:
    """Load the model from the files about to be logged and predict the example, or raise."""
    record = example.iloc[0]
    images = read_images(record.get("images"), row="example")
    expression = record.get("expression")
    Predictor.from_artifacts(artifacts).predict(SampleInput("example", images, expression))


def _requirements() -> list[str]:
    """Pins of the installed versions as the package index knows them: a local build's ``+cpu`` / ``+cu128``
    suffix is dropped (``torch==2.14.1+cpu`` installs as ``torch==2.14.1``)."""
    pins = []
    for package in REQUIREMENTS:
        try:
            pins.append(f"{package}=={Version(version(package)).public}")
        except PackageNotFoundError:
            pins.append(package)
    return pins
