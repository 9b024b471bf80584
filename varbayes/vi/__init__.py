"""The model-agnostic variational core: the fit loop every conjugate model shares."""

from ._loop import Bound, ConjugateModel, FitResult, NonFiniteBoundError, fit_loop

__all__ = ["Bound", "ConjugateModel", "FitResult", "NonFiniteBoundError", "fit_loop"]
