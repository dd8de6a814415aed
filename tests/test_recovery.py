"""Recovery of the planted signal: only the two modalities together identify the class.

On the synthetic cohort, morphology tells acute from chronic and expression lymphoid from myeloid
(docs/synthetic.md), so each single modality is capped at about 0.5 accuracy on the four classes while fusion can
be near perfect. The run goes through the real path: files on disk -> build_cohort -> featurize -> load_bags ->
run_cross_validation. It is kept small for CI: 100 patients with two 128 px single-cell images each (64 px tiles),
a randomly initialised ResNet-18, 200 bootstrap resamples; the model, training and fold settings are the defaults.
"""

from __future__ import annotations

import time

import pytest
import yaml

from leukmodel.config import SyntheticConfig, config_from_dict
from leukmodel.data import build_cohort
from leukmodel.data.synthetic import write_synthetic_cohort
from leukmodel.features import featurize, load_bags
from leukmodel.training import run_cross_validation

SYNTHETIC = SyntheticConfig(patients=100, images_per_patient=2, image_size=128, style="segmented", n_genes=200, seed=0)


@pytest.mark.slow
def test_fusion_recovers_the_complementary_signal(tmp_path):
    start = time.perf_counter()
    config_path = write_synthetic_cohort(tmp_path / "cohort", SYNTHETIC)
    values = yaml.safe_load(config_path.read_text())
    values["backbone"] = {"arch": "resnet18", "weights": "none"}
    values["features"] = {**values.get("features", {}), "num_workers": 0}
    values["cv"] = {"bootstrap": 200}
    config = config_from_dict(values, base_dir=config_path.parent)
    cohort = build_cohort(config)
    featurize([p for s in cohort.samples for p in s.images], config, progress=False)
    bags = load_bags(cohort, config)

    result = run_cross_validation(cohort, bags, config, out_dir=tmp_path / "cv")

    oof = result.metrics[(result.metrics["scope"] == "oof") & (result.metrics["metric"] == "accuracy")]
    accuracy = dict(zip(oof["model"], oof["value"], strict=True))
    mcnemar = result.mcnemar.set_index("model")
    print(f"\n{result.summary().to_string()}\n{result.mcnemar.to_string()}\n{time.perf_counter() - start:.0f} s")
    assert accuracy["fusion"] >= 0.95
    assert accuracy["image"] <= 0.6
    assert accuracy["genomic"] <= 0.6
    assert mcnemar.loc["image", "p_value"] < 0.01
    assert mcnemar.loc["genomic", "p_value"] < 0.01
    assert (mcnemar["a_only"] > mcnemar["b_only"]).all(), "fusion is right where the baselines are wrong"
