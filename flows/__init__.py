"""Prefect flows, one per step (ingest, featurize, cross_validate, explain, register, predict), and the pipeline that
composes them as subflows."""
