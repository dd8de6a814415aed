"""MLflow: where runs are recorded, the cross-validation's parent and child runs, and the model registry."""
