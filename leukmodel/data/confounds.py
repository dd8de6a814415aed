"""Class confounded with source: the check behind the warnings of ``leukmodel validate``, the summary and the report.

When every sample of a class comes from one source (one expression file, one image folder or C-NMC fold) while
other classes come from others, or one source holds a single class, a model can learn the source (study, batch,
scanner) instead of the class, and no cross-validation will tell. Public cohorts assembled from several studies
are often built like that (e.g. ALL profiles from GSE28497, normal ones from GSE9476). The check runs per modality,
and only where the modality has several sources (with one source, source and class cannot be told apart at all).
"""

from __future__ import annotations

from collections import defaultdict

from leukmodel.data.cohort import Cohort


def confound_warnings(cohort: Cohort) -> list[str]:
    """One sentence per confound found, naming the modality, the source and the class."""
    by_modality = {
        "images": {s.sample_id: (cohort.image_sources.get(s.sample_id), s.label) for s in cohort.samples},
        "expression": {
            s.sample_id: (cohort.expression_sources.get(s.expression_id or ""), s.label) for s in cohort.samples
        },
    }
    warnings = []
    for modality, sources in by_modality.items():
        classes_of: dict[str, set[str]] = defaultdict(set)
        sources_of: dict[str, set[str]] = defaultdict(set)
        for source, label in sources.values():
            if source is not None:
                classes_of[source].add(label)
                sources_of[label].add(source)
        if len(classes_of) < 2:
            continue
        for label in cohort.classes:
            if len(sources_of.get(label, ())) == 1:
                (source,) = sources_of[label]
                warnings.append(f"{modality}: every '{label}' sample comes from one source, {source}")
        for source, labels in sorted(classes_of.items()):
            if len(labels) == 1 and len(cohort.classes) > 1:
                warnings.append(f"{modality}: source {source} holds a single class, '{next(iter(labels))}'")
    return warnings
