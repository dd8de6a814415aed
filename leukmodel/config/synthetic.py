"""The generated synthetic cohort (the embedded default and the test data)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from leukmodel.config.base import Section


class SyntheticConfig(Section):
    """Knobs of :func:`leukmodel.data.synthetic.write_synthetic_cohort` (see docs/synthetic.md)."""

    patients: int = Field(60, ge=1)
    images_per_patient: int = Field(4, ge=1)
    seed: int = 0
    style: Literal["smear", "segmented", "mixed"] = "mixed"
    image_size: int = Field(450, ge=32)
    classes: list[str] = Field(default_factory=lambda: ["ALL", "AML", "CLL", "CML"])
    class_balance: list[float] | None = None
    signal: float = Field(1.0, ge=0.0)
    noise: float = Field(1.0, ge=0.0)
    n_genes: int = Field(2000, ge=20)
