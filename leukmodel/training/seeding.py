"""Seeding a run and its trials, and the torch thread count of a block."""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch


def trial_seed(seed: int, fold_index: int | None) -> int:
    """The seed of every trial of one fold (``None``: the final model), derived from the run's seed.

    All models of a fold share it, so they see the same bag order and tile draws (identical settings).
    """
    entropy = [seed] if fold_index is None else [seed, fold_index]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch; return the generator that orders bags and draws tiles."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return np.random.default_rng(seed)


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads (``None``: unchanged), then restore the previous number."""
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
