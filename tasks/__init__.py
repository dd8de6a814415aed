"""Prefect tasks: thin wrappers over leukmodel functions that add caching, retries, logs and UI artifacts."""
