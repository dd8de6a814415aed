"""A microarray cohort shaped like real ones: thousands of probes, tens of samples, a few informative genes.

The planted cohort of :mod:`leukmodel.data.synthetic.expression` carries its signal in whole marker modules, an
easy problem. Real expression sets are harder: p >> n, most probes pure noise, correlated by latent factors
(cell composition, batch), and the class visible in a few genes only. This generator builds that shape around
per-probe mean log2 intensities (e.g. those of a real CuMiDa file), in the CuMiDa layout, to check what a small
network does where a regularised linear model is hard to beat (docs/linear-references.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def sparse_signal_expression(
    probe_means: pd.Series,
    classes: Sequence[str],
    n_per_class: int,
    n_informative: int = 20,
    effect: float = 0.8,
    noise: float = 0.5,
    n_factors: int = 10,
    factor_scale: float = 0.4,
    seed: int = 0,
) -> pd.DataFrame:
    """A CuMiDa-layout table (``samples``, ``type``, one column per probe) with a sparse class signal.

    Args:
        probe_means: mean log2 intensity per probe (index = probe ids); sets the probes and their levels.
        classes: class names; ``n_per_class`` samples each.
        n_informative: probes per class whose mean moves by ``effect`` (log2 units, up or down) in that class.
        noise: per-sample, per-probe standard deviation (log2 units).
        n_factors, factor_scale: latent factors shared by all probes (random loadings): correlated noise.
        seed: the random draw.
    """
    rng = np.random.default_rng(seed)
    n_probes = len(probe_means)
    labels = np.repeat(np.asarray(classes), n_per_class)
    n = len(labels)
    loadings = rng.normal(scale=factor_scale, size=(n_factors, n_probes))
    values = probe_means.to_numpy(dtype=np.float64) + rng.normal(size=(n, n_factors)) @ loadings
    values += rng.normal(scale=noise, size=(n, n_probes))
    informative = rng.choice(n_probes, size=(len(classes), n_informative), replace=False)
    for k, name in enumerate(classes):
        signs = rng.choice([-1.0, 1.0], size=n_informative)
        values[np.ix_(labels == name, informative[k])] += effect * signs
    order = rng.permutation(n)
    table = pd.DataFrame(np.clip(values[order], 1.0, 16.0).astype(np.float32), columns=probe_means.index)
    table.insert(0, "type", labels[order])
    table.insert(0, "samples", [f"GSM{900000 + i}.CEL.gz" for i in range(n)])
    return table
