"""Ray for real: featurize shards filling one cache, and a killed cross-validation that resumes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import ray
from mlflow.tracking import MlflowClient

from leukmodel.app.cross_validation import run_folder
from leukmodel.data import build_cohort
from leukmodel.distributed import experiment_path, featurize_on_ray
from leukmodel.features import featurize, load_bags
from leukmodel.tracking.runs import PARENT_FILE
from leukmodel.training.splits import make_folds

RUN_CV = """
import sys
from leukmodel.config import load_config
from leukmodel.data import build_cohort
from leukmodel.distributed import ray_session
from leukmodel.app.cross_validation import tracked_cross_validation

config = load_config(sys.argv[1])
with ray_session(config):
    tracked_cross_validation(build_cohort(config), config, {"pretrained": "false"}, verbose=0)
"""


@pytest.fixture
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_featurize_shards_fill_one_cache_and_a_warm_run_computes_nothing(tiny, tmp_path, local_ray):
    config = tiny(features={"cache_dir": str(tmp_path / "cache")})
    cohort = build_cohort(config)
    paths = [p for s in cohort.samples for p in s.images]
    cold = featurize_on_ray(paths, config, progress=False)
    assert cold.images == len(paths) == cold.misses and cold.forward_passes > 0
    warm = featurize_on_ray(paths, config, progress=False)
    assert warm.hits == len(paths) and warm.misses == 0 and warm.forward_passes == 0
    bags = load_bags(cohort, config)
    assert set(bags) == set(cohort.sample_ids)
    assert sum(len(b) for b in bags.values()) == cold.tiles


def trial_results(experiment: Path) -> dict[str, str]:
    """The trials' result checkpoints (by trial folder) and the SHA-256 of their bytes (Tune may copy a restored
    checkpoint again; a trial trained again would hold another result, if only its training time)."""
    return {
        str(p.relative_to(experiment)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in experiment.rglob("trial_result.pkl")
    }


def finished_trials(client: MlflowClient, experiment: str) -> dict[tuple[str, str], list[str]]:
    runs = client.search_runs([experiment], "tags.`leukmodel.kind` = 'trial' and attributes.status = 'FINISHED'")
    found: dict[tuple[str, str], list[str]] = {}
    for run in runs:
        found.setdefault((run.data.tags["leukmodel.model"], run.data.tags["leukmodel.fold"]), []).append(
            run.info.run_id
        )
    return found


def test_killed_cross_validation_resumes_with_the_same_folds_and_parent_run(tiny, tmp_path):
    config = tiny(
        output_dir=str(tmp_path / "out"),
        cv={"models": ["image", "genomic"]},
        ray={"max_concurrent_trials": 1, "cpus_per_trial": 2},
    )
    cohort = build_cohort(config)
    featurize([p for s in cohort.samples for p in s.images], config, progress=False)
    config_path = config.to_yaml(tmp_path / "config.yaml")
    experiment = Path(experiment_path(config))
    command = [sys.executable, "-c", RUN_CV, str(config_path)]
    client = MlflowClient(f"sqlite:///{tmp_path / 'out' / 'mlflow.db'}")

    first = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    finished_before: dict[tuple[str, str], list[str]] = {}
    while not finished_before and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
        mlflow_experiment = (
            client.get_experiment_by_name(config.name) if (tmp_path / "out" / "mlflow.db").exists() else None
        )
        if mlflow_experiment is not None:
            finished_before = finished_trials(client, mlflow_experiment.experiment_id)
    assert first.poll() is None, f"the cross-validation ended before it could be killed: {first.stderr.read()}"
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    finished_before = finished_trials(client, mlflow_experiment.experiment_id)
    assert 1 <= len(finished_before) < 4
    record = (run_folder(config) / PARENT_FILE).read_text()
    parent_id = json.loads(record)["run_id"]
    assert client.get_run(parent_id).info.status == "RUNNING"
    results_before = trial_results(experiment)

    second = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-3000:]
    assert (run_folder(config) / PARENT_FILE).read_text() == record
    finished_after = finished_trials(client, mlflow_experiment.experiment_id)
    assert set(finished_after) == {(m, str(k)) for m in ("image", "genomic") for k in range(2)}
    for trial, runs in finished_before.items():
        assert finished_after[trial] == runs, f"{trial} finished before the kill and was run again"
    results_after = trial_results(experiment)
    assert len(results_after) == 4
    assert {name: results_after[name] for name in results_before} == results_before, "a result was rewritten"

    predictions = pd.read_csv(run_folder(config) / "result" / "predictions.csv", dtype={"sample_id": str})
    folds = make_folds(cohort, config.cv.n_folds, config.cv.val_fraction, config.seed)
    expected = {sid: k for k, fold in enumerate(folds) for sid in fold.test}
    for model in ("image", "genomic"):
        rows = predictions[predictions["model"] == model]
        assert dict(zip(rows["sample_id"], rows["fold"], strict=True)) == expected
