"""A real registered leukmodel model for the serving tests, and the tests of what log_model logs.

The session fixture writes a small synthetic cohort (128 px images, 64 px tiles, a random ResNet-18), featurizes
it, trains the three final models for a few epochs, logs them with :func:`leukmodel.serving.log_model` in a run
of a temporary SQLite MLflow, registers the model and sets the alias ``champion``. Other serving test modules
import the fixture; the model is built once per session (a marker file makes a second build a read).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
import torch
import yaml
from mlflow.tracking import MlflowClient

from leukmodel.config import Config, SyntheticConfig, config_from_dict
from leukmodel.data import Cohort, build_cohort
from leukmodel.data.synthetic import write_synthetic_cohort
from leukmodel.errors import ConfigError
from leukmodel.features import featurize, load_backbone, load_bags
from leukmodel.serving import ServingSpec, log_model
from leukmodel.tracking.setup import using_tracking_uri
from leukmodel.training import ModelBundle, train_final

NAME = "leukmodel-serving-test"
MODELS = ("fusion", "image", "genomic")


@dataclass(frozen=True)
class ServedModel:
    """Where the test model lives and what it was trained on."""

    root: Path
    tracking_uri: str
    name: str
    config: Config
    cohort: Cohort
    run_id: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@champion"

    def bundle(self, model: str) -> ModelBundle:
        return ModelBundle.load(self.root / "bundles" / f"{model}.pt")


def served_config(cohort_dir: Path, root: Path) -> Config:
    values = yaml.safe_load((cohort_dir / "config.yaml").read_text())
    values["output_dir"] = str(root / "runs")
    values["backbone"] = {"arch": "resnet18", "weights": "none"}
    values["features"] = {"cache_dir": str(root / "cache"), "num_workers": 0, "batch_size": 16}
    values["genomic"] = {"n_components": 8}
    values["model"] = {
        "genomic_hidden": [16, 16],
        "genomic_dim": 8,
        "attention_heads": 2,
        "attention_head_dim": 8,
        "mil_attention_dim": 16,
        "mil_hidden": 16,
    }
    values["training"] = {"max_epochs": 4, "patience": 4, "lr": 1e-3, "device": "cpu"}
    values["cv"] = {"n_folds": 2, "val_fraction": 0.25}
    values["explain"] = {"shap_samples": 16}
    return config_from_dict(values, base_dir=cohort_dir)


def build_served_model(root: Path) -> ServedModel:
    cohort_dir = root / "cohort"
    tracking_uri = f"sqlite:///{(root / 'mlflow.db').resolve()}"
    marker = root / "ready.json"
    if not marker.is_file():
        synthetic = SyntheticConfig(patients=16, images_per_patient=2, image_size=128, n_genes=50, seed=0)
        write_synthetic_cohort(cohort_dir, synthetic)
    config = served_config(cohort_dir, root)
    cohort = build_cohort(config)
    if marker.is_file():
        return ServedModel(root, tracking_uri, NAME, config, cohort, json.loads(marker.read_text())["run_id"])
    images = [path for sample in cohort.samples for path in sample.images]
    featurize(images, config, progress=False)
    bags = load_bags(cohort, config)
    bundles = {m: train_final(m, cohort, bags, config) for m in MODELS}
    for m, bundle in bundles.items():
        bundle.save(root / "bundles" / f"{m}.pt")
    _, info = load_backbone(config.backbone)
    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment("serving-test", artifact_location=(root / "mlartifacts").as_uri())
    with using_tracking_uri(tracking_uri):
        with mlflow.start_run(experiment_id=experiment) as run:
            mlflow.set_tags(info.tags() | {"leukmodel.backbone_sha256": info.weights_sha256[:16]})
            model_info = log_model(bundles, config, backbone_info=info)
        version = mlflow.register_model(model_info.model_uri, NAME)
        client.set_registered_model_alias(NAME, "champion", version.version)
    marker.write_text(json.dumps({"run_id": run.info.run_id}))
    return ServedModel(root, tracking_uri, NAME, config, cohort, run.info.run_id)


@pytest.fixture(scope="session")
def served(tmp_path_factory) -> ServedModel:
    return build_served_model(tmp_path_factory.getbasetemp() / "served-model")


@pytest.fixture(scope="session")
def model_dir(served) -> Path:
    """The registered model's files, downloaded once."""
    out = served.root / "downloaded"
    if not (out / "MLmodel").is_file():
        with using_tracking_uri(served.tracking_uri):
            mlflow.artifacts.download_artifacts(artifact_uri=served.uri, dst_path=str(out))
    return out


def test_logged_model_is_code_not_pickle_and_bundles_backbone_and_models(model_dir, served):
    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text())
    flavor = mlmodel["flavors"]["python_function"]
    assert flavor["loader_module"] == "mlflow.pyfunc.loaders.code_model"
    assert "python_model" not in flavor  # no cloudpickled object
    assert not list(model_dir.rglob("*.pkl"))
    artifacts = {p.name for p in (model_dir / "artifacts").iterdir()}
    assert artifacts == {"fusion.pt", "image.pt", "genomic.pt", "backbone.pt", "serving.json"}
    spec = ServingSpec.load(model_dir / "artifacts" / "serving.json")
    assert spec.models == list(MODELS)
    assert spec.classes == list(served.cohort.classes)
    assert spec.genes == served.cohort.genes
    _, info = load_backbone(served.config.backbone)
    assert spec.backbone["weights_sha256"] == info.weights_sha256
    state = torch.load(model_dir / "artifacts" / "backbone.pt", weights_only=True)
    assert not any(k.startswith("fc.") for k in state)
    assert mlmodel["metadata"]["leukmodel"]["backbone_sha256"] == info.weights_sha256
    assert mlmodel["signature"]["params"]
    assert (model_dir / "serving_input_example.json").is_file()


def test_log_model_refuses_a_backbone_other_than_the_training_one(served, tmp_path):
    bundles = {m: served.bundle(m) for m in MODELS}
    _, other = load_backbone(served.config.backbone.model_copy(update={"seed": 1}))
    with pytest.raises(ConfigError, match="differ from the training features") as caught:
        log_model(bundles, served.config, backbone_info=other)
    assert caught.value.field == "backbone.weights"


def test_log_model_refuses_bundles_of_different_gene_sets(served):
    genomic = served.bundle("genomic")
    genomic.genes = [f"other-{g}" for g in genomic.genes]
    with pytest.raises(ConfigError, match="genes differ") as caught:
        log_model({"fusion": served.bundle("fusion"), "genomic": genomic}, served.config)
    assert caught.value.field == "bundles[genomic]"


def test_a_changed_backbone_file_is_refused_at_load(model_dir, served, tmp_path):
    from leukmodel.serving import Predictor

    artifacts = {p.stem if p.suffix == ".pt" else "serving": str(p) for p in (model_dir / "artifacts").iterdir()}
    state = torch.load(artifacts["backbone"], weights_only=True)
    state["layer1.0.conv1.weight"] = state["layer1.0.conv1.weight"] * 1.01
    torch.save(state, tmp_path / "backbone.pt")
    artifacts["backbone"] = str(tmp_path / "backbone.pt")
    with pytest.raises(ConfigError, match="the models were trained on features of"):
        Predictor.from_artifacts(artifacts, device="cpu")
