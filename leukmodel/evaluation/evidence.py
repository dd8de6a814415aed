"""Which results are evidence: under label-matched pairing, nothing a model that reads expression scores is.

With ``pairing.mode: label_matched`` each image bag is given an expression profile drawn from its own class, so at
test time the expression input carries the label (and one profile may serve bags in training and test folds).
Every metric and comparison of a model reading expression is then inflated by construction; it is marked
:data:`NOT_EVIDENCE` with :data:`LABEL_MATCHED_REASON` wherever it appears.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import pandas as pd

NOT_EVIDENCE = "not evidence"
EVIDENCE = "yes"
LABEL_MATCHED_REASON = (
    "label-matched pairing gives each image bag an expression profile drawn from its own class, so a model that "
    "reads expression is handed the label at test time."
)


def matched_models(pairing: str, models: Collection[str], reads_expression: Callable[[str], bool]) -> list[str]:
    """The models of ``models`` whose results are not evidence under ``pairing`` (``reads_expression(model)``)."""
    if pairing != "label_matched":
        return []
    return [m for m in models if reads_expression(m)]


def evidence_column(frame: pd.DataFrame, not_evidence: Collection[str], columns: tuple[str, ...]) -> pd.Series:
    """``not evidence`` for rows where any of ``columns`` names a model of ``not_evidence``, else ``yes``."""
    if frame.empty:
        return pd.Series(dtype=str)
    marked = frame[list(columns)].isin(list(not_evidence)).any(axis=1)
    return marked.map({True: NOT_EVIDENCE, False: EVIDENCE})
