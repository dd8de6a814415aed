"""Prefect flows composing the tasks: ingest, featurize, cross_validate, register, and the whole pipeline."""
