"""Explain and report: explanations of a few samples per class out of fold, the HTML report, both logged to the
cross-validation's MLflow run."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from leukmodel.config import Config
from leukmodel.data.cohort import Cohort
from leukmodel.explain import SampleExplanation, explain_cv
from leukmodel.explain.cv import INDEX
from leukmodel.features.bags import Bag
from leukmodel.report import build_report
from leukmodel.tracking.artifacts import RunArtifacts
from leukmodel.tracking.layout import EXPLANATIONS_DIR, tag

Samples = Callable[[], tuple[Cohort, Mapping[str, Bag]]]
"""Gives the cohort and its feature bags (called only when samples are to be explained)."""


@dataclass(frozen=True)
class ExplainedReport:
    """The report written (and logged), and the samples explained for it (none when logged ones were reused)."""

    report: Path
    explained: list[SampleExplanation] = field(default_factory=list)


def explain_and_report(
    artifacts: RunArtifacts,
    cv_dir: Path,
    config: Config,
    samples: Samples,
    folder: Path,
    report: Path,
    *,
    reuse_logged: bool = False,
) -> ExplainedReport:
    """Explain ``explain.samples_per_class`` samples of each class of the cross-validation in ``cv_dir`` (its
    reference model, each sample by the fold model that tested it) into ``folder/explanations``, log them to the
    run, write the HTML report to ``report`` and log it as the run's report.

    With ``reuse_logged``, explanations the run already holds are downloaded into ``folder`` and used instead.
    The backbone rebuilt for Grad-CAM must have the weights recorded on the run (``leukmodel.backbone_sha256``).
    """
    tags = artifacts.client.get_run(artifacts.run_id).data.tags
    explanations = artifacts.download_explanations(folder, INDEX) if reuse_logged else None
    explained: list[SampleExplanation] = []
    if explanations is None:
        cohort, bags = samples()
        explanations = folder / EXPLANATIONS_DIR
        explained = explain_cv(
            cv_dir, cohort, bags, config, explanations, backbone_sha256=tags.get(tag("backbone_sha256"))
        )
        artifacts.log_explanations(explanations)
    path = build_report(cv_dir, explanations, report, tags=tags, run_id=artifacts.run_id)
    artifacts.log_report(path)
    return ExplainedReport(path, explained)
