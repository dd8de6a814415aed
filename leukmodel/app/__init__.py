"""The application layer: leukmodel's use cases, one module each, called alike by the Prefect tasks and the CLI.

``samples`` (the samples a run can use), ``cross_validation`` (a cross-validation on Ray Tune recorded in MLflow),
``final_models`` (the served models trained on the whole cohort), ``report`` (explain a few samples, build the HTML
report, log both to the run), ``register`` (log the pyfunc, register it, apply the champion rule), ``predict`` (a
cohort or a folder through a registered model), ``evaluate`` (a registered model on a held-out labelled cohort).
They compose the library's packages (Ray in ``distributed``, MLflow in ``tracking``, the rest in the domain
packages) and hold no orchestration: retries, caching and the UI's artifacts are the tasks'.
"""
