"""Prefect flows, one per step (ingest, featurize, cross_validate, explain, register, predict), the pipeline that
composes them as subflows, and evaluate (a registered model on a held-out labelled cohort)."""
