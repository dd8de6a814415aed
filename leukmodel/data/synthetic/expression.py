"""Synthetic gene-expression profiles: log2 RMA-like values on an Affymetrix-like platform with marker modules.

The platform (probe ids, symbols, which probes carry a marker module) depends on ``n_genes`` only, so tests and
explanations can ask :func:`marker_probes` which probes are planted without reading the cohort. Values depend on
the cohort seed: per-probe baselines and noise levels, correlated noise modules unrelated to class, a per-patient
array offset, and, for a patient of expression group ``k``, the ``EXPRESSION_GROUPS[k]`` module raised by
``signal`` (scaled by the patient's own module activity). A module is a lineage program: its named marker genes
(:data:`MARKER_GENES`, raised by 1.5-3 log2 units) and co-regulated filler genes (10% of the probes per module,
raised by 0.3-1 units), so that, as in real leukaemia arrays, the lineage shows in the leading principal
components and not only in a handful of probes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from leukmodel.data.synthetic.plan import (
    EXPRESSION_GROUPS,
    STREAM_EXPRESSION,
    STREAM_GENES,
    Patient,
    stream,
)

MARKER_GENES: dict[str, list[str]] = {
    "lymphoid": ["CD19", "CD79A", "CD79B", "PAX5", "CD22", "VPREB1", "IGLL1", "MS4A1", "BLK", "EBF1"],
    "myeloid": ["MPO", "CD33", "CSF3R", "LYZ", "ELANE", "PRTN3", "AZU1", "CTSG", "CEBPA", "CSF1R"],
}
"""Real marker symbols of each module (order follows :data:`~leukmodel.data.synthetic.plan.EXPRESSION_GROUPS`)."""

FIRST_PROBE = 100001
VALUE_RANGE = (2.0, 14.0)
"""log2 intensities are clipped to this range, as RMA values of Affymetrix arrays roughly are."""

_PLATFORM_STREAM = 1_000_003  # seeds the probe order; the platform is the same for every cohort seed
_NOISE_MODULES = 8
_COREGULATED = 0.10  # fraction of all probes that follow each module weakly
MARKER_SHIFT = (1.5, 3.0)
COREGULATED_SHIFT = (0.3, 1.0)


@dataclass(frozen=True)
class Platform:
    """Probes of the array: id, gene symbol, module (index into EXPRESSION_GROUPS, -1: none), named marker or not."""

    probes: list[str]
    symbols: list[str]
    module: np.ndarray
    marker: np.ndarray

    def annotation(self) -> pd.DataFrame:
        """The probe -> symbol table, in the columns of a GEO platform table."""
        return pd.DataFrame({"ID": self.probes, "Gene Symbol": self.symbols})

    def module_probes(self, markers_only: bool) -> dict[str, list[str]]:
        keep = self.marker if markers_only else np.ones(len(self.probes), bool)
        return {
            name: [self.probes[i] for i in np.flatnonzero((self.module == k) & keep)]
            for k, name in enumerate(EXPRESSION_GROUPS)
        }


@lru_cache(maxsize=8)
def platform(n_genes: int) -> Platform:
    """``n_genes`` probes ``100001_at``...; up to 10 marker genes per module (fewer below 40 probes), two probes
    per marker gene from 400 probes on, one below; the rest are filler genes ``SYNG00001``..., of which 10% of
    all probes per module are co-regulated with that module."""
    per_module = min(len(genes) for genes in MARKER_GENES.values())
    per_module = min(per_module, n_genes // 4)
    probes_per_gene = 2 if n_genes >= 400 else 1
    markers = [
        (symbol, k)
        for k, name in enumerate(EXPRESSION_GROUPS)
        for symbol in MARKER_GENES[name][:per_module]
        for _ in range(probes_per_gene)
    ]
    n_filler = n_genes - len(markers)
    coregulated = int(_COREGULATED * n_genes)
    symbols = [s for s, _ in markers] + [f"SYNG{i:05d}" for i in range(1, n_filler + 1)]
    filler_module = [k for k in range(len(EXPRESSION_GROUPS)) for _ in range(coregulated)]
    module = np.array([k for _, k in markers] + filler_module + [-1] * (n_filler - len(filler_module)))
    marker = np.arange(n_genes) < len(markers)
    order = np.random.default_rng([_PLATFORM_STREAM, n_genes]).permutation(n_genes)
    return Platform(
        probes=[f"{FIRST_PROBE + i}_at" for i in range(n_genes)],
        symbols=[symbols[j] for j in order],
        module=module[order],
        marker=marker[order],
    )


def marker_probes(n_genes: int) -> dict[str, list[str]]:
    """Module name -> the probes of its named marker genes (the strongest planted probes), for ``n_genes`` probes."""
    return platform(n_genes).module_probes(markers_only=True)


def module_probes(n_genes: int) -> dict[str, list[str]]:
    """Module name -> every probe that follows it (named markers and co-regulated filler genes)."""
    return platform(n_genes).module_probes(markers_only=False)


def probe_annotation(n_genes: int) -> pd.DataFrame:
    """The probe -> gene symbol table (columns ``ID``, ``Gene Symbol``) written as ``expression/annotation.csv``."""
    return platform(n_genes).annotation()


def expression_profiles(patients: list[Patient], *, n_genes: int, seed: int, signal: float, noise: float) -> np.ndarray:
    """One row of log2 values per patient, columns in the order of ``platform(n_genes).probes``."""
    chip = platform(n_genes)
    rng = stream(seed, STREAM_GENES)
    baseline = np.where(chip.marker, rng.uniform(3.5, 6.0, n_genes), 2.5 + 9.5 * rng.beta(1.6, 2.2, n_genes))
    probe_sd = rng.uniform(0.2, 0.5, n_genes)
    factor = np.where(rng.random(n_genes) < 0.5, rng.integers(0, _NOISE_MODULES, n_genes), -1)
    loading = np.where(factor >= 0, rng.uniform(0.3, 0.9, n_genes) * rng.choice([-1.0, 1.0], n_genes), 0.0)
    shift = np.where(chip.marker, rng.uniform(*MARKER_SHIFT, n_genes), rng.uniform(*COREGULATED_SHIFT, n_genes))

    rows = []
    for patient in patients:
        prng = stream(seed, STREAM_EXPRESSION, patient.number)
        scores = prng.standard_normal(_NOISE_MODULES)
        offset = prng.normal(0.0, 0.15)
        activity = max(0.3, 1.0 + prng.normal(0.0, 0.25 * noise))
        up = chip.module == patient.signal.expression
        variation = loading * scores[factor] + offset + probe_sd * prng.standard_normal(n_genes)  # loading 0: no module
        rows.append(baseline + noise * variation + signal * activity * shift * up)
    return np.clip(np.array(rows), *VALUE_RANGE)


def expression_table(patients: list[Patient], sample_ids: list[str], values: np.ndarray, n_genes: int) -> pd.DataFrame:
    """The CuMiDa layout: ``samples``, ``type``, then one column per probe."""
    table = pd.DataFrame(values, columns=platform(n_genes).probes)
    table.insert(0, "type", [p.label for p in patients])
    table.insert(0, "samples", sample_ids)
    return table
