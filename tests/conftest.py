"""Shared fixtures: paths to the real sample files kept in tests/data, the tiny synthetic cohort, one torch thread,
and the seed of the statistical tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--seed",
        type=int,
        default=int(os.environ.get("LEUKMODEL_TEST_SEED", "0")),
        help="seed of the statistical tests' cohorts and training (default: $LEUKMODEL_TEST_SEED or 0)",
    )


@pytest.fixture(scope="session")
def test_seed(request: pytest.FixtureRequest) -> int:
    """The seed the statistical tests draw their cohort and train with: ``pytest --seed 3`` or LEUKMODEL_TEST_SEED=3."""
    return request.config.getoption("--seed")


@pytest.fixture(scope="session")
def cnmc_sample() -> Path:
    """Six original C-NMC 2019 training images: subject 1 (all) and H6 (hem)."""
    return DATA / "cnmc-sample"


@pytest.fixture(scope="session")
def cumida_sample() -> Path:
    """Five real rows of CuMiDa's Leukemia_GSE28497 (22,283 probes, RMA log2)."""
    return DATA / "cumida-sample" / "GSE28497_5samples_cumida_layout.csv"


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models on a shared CI machine: one thread avoids OpenMP stalls when other processes hold the cores.

    A module asks for it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


TINY = {  # cv.models: every model but late_fusion, whose own tests (models, packing, serving, explain) cover it
    "backbone": {"arch": "resnet18", "weights": "none"},
    "features": {"num_workers": 0, "batch_size": 16},
    "cv": {"n_folds": 2, "bootstrap": 50, "models": ["fusion", "image", "genomic", "linear_image", "linear_genomic"]},
    "training": {"max_epochs": 6, "patience": 3},
    "ray": {"num_cpus": 2, "cpus_per_trial": 1, "featurize_cpus": 1},
    "explain": {"samples_per_class": 1},
}


def _tiny_config(root: Path, **overrides):
    """A small synthetic cohort (40 patients, 2 images of 128 px, 64 px tiles) and a fast config for it.

    ``overrides`` replace top-level config sections (merged one level deep), e.g. ``output_dir=...``.
    """
    from leukmodel.config import SyntheticConfig, config_from_dict, load_config
    from leukmodel.data.synthetic import write_synthetic_cohort

    path = root / "cohort" / "config.yaml"
    if not path.is_file():
        write_synthetic_cohort(root / "cohort", SyntheticConfig(patients=40, images_per_patient=2, image_size=128))
    values = load_config(path).to_dict()
    for layer in (TINY, overrides):
        for section, value in layer.items():
            values[section] = {**(values.get(section) or {}), **value} if isinstance(value, dict) else value
    return config_from_dict(values, base_dir=root)


@pytest.fixture(scope="session")
def tiny_cohort_dir(tmp_path_factory) -> Path:
    """A folder holding the tiny synthetic cohort, shared by the tests of a session (read-only for them)."""
    root = tmp_path_factory.mktemp("tiny")
    _tiny_config(root)
    return root


@pytest.fixture(scope="session")
def tiny(tiny_cohort_dir):
    """``tiny(**overrides) -> Config`` for the shared tiny synthetic cohort (see :func:`_tiny_config`)."""
    return lambda **overrides: _tiny_config(tiny_cohort_dir, **overrides)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files with slow or statistical tests first: the suite runs file by file on parallel workers (``--dist
    loadfile --no-loadscope-reorder`` in pyproject.toml: a file's module fixtures are built once, and files run in
    this order, not by their number of tests), and the longest files started last would leave one worker running
    alone at the end."""
    slow = {item.path for item in items if item.get_closest_marker("slow") or item.get_closest_marker("statistical")}
    items.sort(key=lambda item: item.path not in slow)
