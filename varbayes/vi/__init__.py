"""The model-agnostic variational core: the fit loop every conjugate model shares."""

from ._loop import Bound, ConjugateModel, FitResult, NonFiniteBoundError, fit_loop, has_converged
from ._stochastic import OnlineState, online_steps, step_size

__all__ = ["Bound", "ConjugateModel", "FitResult", "NonFiniteBoundError", "OnlineState", "fit_loop",
           "has_converged", "online_steps", "step_size"]
