"""Which models a cross-validation runs: what the cohort's modalities allow, or exactly what ``cv.models`` names.

Every model of the registry (:mod:`leukmodel.models.registry`) reads images, expression or both. With
``cv.models`` not given, every model the cohort can serve runs and the others are left out with a reason (the
summary names them); a ``cv.models`` list that names a model the cohort cannot serve is an error.
``cv.reference`` not given is the first model run in registry order (fusion where both modalities are present).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from leukmodel.config.model import ModelName
from leukmodel.config.root import Config
from leukmodel.data.cohort import Cohort
from leukmodel.errors import ConfigError
from leukmodel.models.registry import MODELS, model_entry


@dataclass(frozen=True)
class ModelPlan:
    """The models a cross-validation runs, its McNemar reference, and the models left out with the reason."""

    models: tuple[ModelName, ...]
    reference: ModelName
    left_out: dict[str, str] = field(default_factory=dict)


def missing_modality(model_name: ModelName, cohort: Cohort) -> str | None:
    """Why ``cohort`` cannot serve ``model_name`` (``None`` when it can)."""
    entry = model_entry(model_name)
    if entry.uses_images and not cohort.has_images:
        return "needs images; the cohort has none"
    if entry.uses_expression and (not cohort.has_expression or cohort.expression is None):
        return "needs expression; the cohort has none"
    return None


def check_modalities(model_name: ModelName, cohort: Cohort) -> None:
    """The cohort must have the modalities the model reads (a named error on ``cv.models`` otherwise)."""
    reason = missing_modality(model_name, cohort)
    if reason is not None:
        allowed = [m for m in MODELS if missing_modality(m, cohort) is None]
        raise ConfigError(
            f"the {model_name} model {reason} (cohort '{cohort.name}' is {cohort.pairing})",
            field="cv.models",
            expected="only models the cohort's modalities allow: " + ", ".join(allowed) + " (or leave cv.models out)",
        )


def plan_models(config: Config, cohort: Cohort) -> ModelPlan:
    """The models of ``config.cv`` on ``cohort`` (module docstring)."""
    if config.cv.models is None:
        left_out = {m: reason for m in MODELS if (reason := missing_modality(m, cohort)) is not None}
        models = tuple(m for m in MODELS if m not in left_out)
    else:
        for model in config.cv.models:
            check_modalities(model, cohort)
        models = tuple(dict.fromkeys(config.cv.models))
        left_out = {m: missing_modality(m, cohort) or "not in cv.models" for m in MODELS if m not in models}
    reference = config.cv.reference
    if reference is None:
        reference = next(m for m in MODELS if m in models)
    elif reference not in models:
        raise ConfigError(
            f"the reference model {reference} is not among the models run ({', '.join(models)})",
            field="cv.reference",
            expected="one of " + ", ".join(models),
        )
    return ModelPlan(models, reference, left_out)


def resolve_models(config: Config, cohort: Cohort) -> Config:
    """``config`` with ``cv.models`` and ``cv.reference`` filled in for ``cohort`` (idempotent)."""
    plan = plan_models(config, cohort)
    cv = config.cv.model_copy(update={"models": list(plan.models), "reference": plan.reference})
    return config.model_copy(update={"cv": cv})
