"""leukmodel: weakly supervised morpho-molecular leukemia subtyping."""

__version__ = "0.1.0"
