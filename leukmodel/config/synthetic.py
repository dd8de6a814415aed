"""The generated synthetic cohort (the embedded default and the test data)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from leukmodel.config.base import ResolvedPath, Section

_CLASS_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")


class SyntheticConfig(Section):
    """Knobs of :func:`leukmodel.data.synthetic.write_synthetic_cohort` (see docs/synthetic.md).

    ``classes`` holds 2 to 4 names (letters, digits, ``-``; distinct ignoring case, since they name folders and
    C-NMC file names in lower case). Their order decides the planted signal: class ``i`` gets morphology group
    ``(i // 2) % 2`` (blast, mature) and expression module ``i % 2`` (lymphoid, myeloid). ``class_balance``
    gives one positive weight per class (``None``: equal); every class gets at least one patient. ``root``: where
    the pipeline writes the cohort when it is not there yet (the cohort's own ``config.yaml`` says ``.``).
    """

    root: ResolvedPath | None = None
    patients: int = Field(60, ge=1)
    images_per_patient: int = Field(4, ge=1)
    seed: int = Field(0, ge=0)
    style: Literal["smear", "segmented", "mixed"] = "mixed"
    image_size: int = Field(450, ge=32)
    classes: list[str] = Field(default_factory=lambda: ["ALL", "AML", "CLL", "CML"], min_length=2, max_length=4)
    class_balance: list[float] | None = None
    signal: float = Field(1.0, ge=0.0)
    noise: float = Field(1.0, ge=0.0)
    n_genes: int = Field(2000, ge=20)

    @model_validator(mode="after")
    def _classes_and_balance(self) -> SyntheticConfig:
        for name in self.classes:
            if not _CLASS_NAME.fullmatch(name):
                raise ValueError(f"class name {name!r} must be letters, digits and '-' (it names folders and files)")
        if len({c.lower() for c in self.classes}) != len(self.classes):
            raise ValueError(f"class names must differ ignoring case, got {self.classes}")
        if self.class_balance is not None:
            if len(self.class_balance) != len(self.classes):
                raise ValueError(f"class_balance has {len(self.class_balance)} weights for {len(self.classes)} classes")
            if any(w <= 0 for w in self.class_balance):
                raise ValueError(f"class_balance weights must be positive, got {self.class_balance}")
        if self.patients < len(self.classes):
            raise ValueError(f"{self.patients} patients cannot cover {len(self.classes)} classes (one each at least)")
        return self
