"""Shared fixtures: paths to the real sample files kept in tests/data."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="session")
def cnmc_sample() -> Path:
    """Six original C-NMC 2019 training images: subject 1 (all) and H6 (hem)."""
    return DATA / "cnmc-sample"


@pytest.fixture(scope="session")
def cumida_sample() -> Path:
    """Five real rows of CuMiDa's Leukemia_GSE28497 (22,283 probes, RMA log2)."""
    return DATA / "cumida-sample" / "GSE28497_5samples_cumida_layout.csv"
