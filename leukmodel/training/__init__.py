"""Patient-grouped folds, training one model on one fold, cross-validation and trained-model bundles."""

from leukmodel.training.bundle import ModelBundle, train_final
from leukmodel.training.cv import (
    CVResult,
    TrialRunner,
    TrialSpec,
    run_cross_validation,
    run_trials_sequentially,
    summarize,
    trial_specs,
)
from leukmodel.training.early_stopping import EarlyStopping
from leukmodel.training.seeding import trial_seed
from leukmodel.training.splits import Fold, folds_table, make_folds, split_groups, validation_split
from leukmodel.training.trainer import (
    BagItem,
    EpochCallback,
    FeatureBag,
    TrialResult,
    fit,
    predict,
    prepare_items,
    run_trial,
    train_model,
)

__all__ = [
    "BagItem",
    "CVResult",
    "EarlyStopping",
    "EpochCallback",
    "FeatureBag",
    "Fold",
    "ModelBundle",
    "TrialResult",
    "TrialRunner",
    "TrialSpec",
    "fit",
    "folds_table",
    "make_folds",
    "predict",
    "prepare_items",
    "run_cross_validation",
    "run_trial",
    "run_trials_sequentially",
    "split_groups",
    "summarize",
    "train_final",
    "train_model",
    "trial_specs",
    "trial_seed",
    "validation_split",
]
