"""One fit loop for every conjugate model: coordinate ascent on the ELBO.

A model is fitted by sweeps of the same shape (the variational core of the
design)::

    stats = executor.map_sum(model.local_step, X, sample_weight, *model.local_params(params))
    record model.bound(params, stats, model.local_name)
    for name, update in model.global_updates():
        params, allowance = update(params, stats)     # the exact maximiser in that factor
        record model.bound(params, stats, name)       # when model.record_each_update

The *local step* maps one chunk of rows (and its weights) to additive
expected sufficient statistics and the chunk's share of the bound; the
*global updates* are named coordinate updates of q over the global
parameters, each an ascent step (EM: q over the parameters a point mass, the
M-step its one update); ``bound`` gives the ELBO per sample with its terms.
An update that maximises a penalised bound (e.g. ``reg_covar``) returns the
decrease of the bound itself that the penalty permits; it goes with the next
record.  Nothing passes between the hooks except what they return.

The loop owns ``n_init``, warm starts, convergence, verbosity, the non-finite
check and the :class:`~varbayes.ELBOTracker`; it knows nothing of the models.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .._elbo import ELBOTracker
from .._execution import one_blas_thread
from .._progress import Progress

__all__ = ["Bound", "ConjugateModel", "FitResult", "NonFiniteBoundError", "fit_loop", "has_converged"]

NON_FINITE_MESSAGE = (
    "The evidence lower bound became non-finite at iteration {n_iter}, so the "
    "parameters are unusable. Try float64 input, a larger reg_covar, or "
    "scaling the input data."
)


class NonFiniteBoundError(ValueError):
    """The bound became NaN or infinite: the parameters are unusable."""


@dataclass
class Bound:
    """The ELBO per sample after one step, its named terms, and a bound on its
    rounding error beyond the tracker's relative tolerance (see
    :meth:`ELBOTracker.record`)."""

    value: float
    terms: dict = field(default_factory=dict)
    error: float = 0.0


#: A global update: (params, stats) -> (new params, permitted decrease of the bound).
Update = Callable[[Any, Any], tuple[Any, float]]


class ConjugateModel(ABC):
    """The hooks :func:`fit_loop` calls (see the module docstring)."""

    #: Label of the record after the local step.
    local_name: str = "local"
    #: Record the bound after every global update, not only after the local step.
    record_each_update: bool = False

    @abstractmethod
    def initialize(self, executor: Any, X: Any, sample_weight: Any, random_state: np.random.RandomState) -> Any:
        """Initial global parameters."""

    @abstractmethod
    def local_params(self, params: Any) -> tuple:
        """What every chunk needs from the global parameters (broadcast to the local step)."""

    @abstractmethod
    def local_step(self, X: Any, sample_weight: Any, rows: slice, *broadcast: Any) -> Any:
        """Additive statistics of one chunk: a pure function of its arguments."""

    @abstractmethod
    def global_updates(self) -> list[tuple[str, Update]]:
        """The named coordinate updates of one sweep, in order."""

    @abstractmethod
    def bound(self, params: Any, stats: Any, step: str) -> Bound:
        """The ELBO per sample of ``params`` with the local factors behind ``stats``."""

    def summarize(self, executor: Any, X: Any, sample_weight: Any) -> Any:
        """The data's statistics once and for all, or None (the default).

        A model without local latent variables (linear regression) has
        statistics that do not depend on the global parameters: it returns
        them here, and the loop then runs no pass over the data per
        iteration.  Models with local factors (mixtures) return None.
        A model whose local step has a closed form in such a summary (VB
        PCA on complete data, from the data's second moments) returns it
        too, and :meth:`summary_step` then stands in for the pass.
        """
        return None

    def summary_step(self, summary: Any, *broadcast: Any) -> Any:
        """The statistics of a local pass, computed from :meth:`summarize`'s
        summary instead of the rows (by default the summary itself: statistics
        that do not depend on the global parameters)."""
        return summary


@dataclass
class FitResult:
    """The outcome of :func:`fit_loop`: the best initialisation's state."""

    params: Any
    stats: Any
    bound: float
    converged: bool
    n_iter: int
    bounds: list
    tracker: ELBOTracker
    progress: tuple  # (iterations run over the whole warm-started run, L_1)


#: Relative size of a decrease of the bound that float64 does not resolve: the
#: mixtures' E-step forms keep their rounding within it
#: (``mixture._stats.EXPANDED_TOLERANCE`` is this number).
RESOLUTION = 1e-10


def has_converged(t: int, prev: float, bound: float, reference: float | None, tol: float, rounding: float) -> bool:
    """The convergence rule after iteration ``t`` of a run (t counted over warm starts).

    The last gain relative to the gain since the first iteration,
    |L_t - L_{t-1}| <= tol |L_t - L_1| for t >= 2: free of the bound's scale
    and additive constants, and of the first jump away from a poor start.  A
    decrease beyond ``rounding`` (the tracker's tolerance) is never
    convergence.  A step that did not raise the bound by more than it can
    resolve, -min(rounding, :data:`RESOLUTION` max(1, |L_{t-1}|)) <=
    L_t - L_{t-1} <= 0, converges too: a fit at its optimum from the first
    iteration has L_t - L_1 at the level of rounding while its parameters
    keep moving by a few ulps, and the relative rule alone could wait for
    ever.  (A float32 fit's rounding is far coarser than that: a decrease
    there can be noise on a slow climb, so only the relative rule counts.)
    tol = 0 runs every iteration (as scikit-learn).
    """
    change = bound - prev
    floor = min(rounding, RESOLUTION * max(1.0, abs(prev)))
    return (t >= 2 and tol > 0 and change >= -rounding
            and (abs(change) <= tol * abs(bound - reference) or -floor <= change <= 0))


def fit_loop(
    model: ConjugateModel,
    executor: Any,
    X: Any,
    sample_weight: Any = None,
    *,
    n_init: int = 1,
    max_iter: int = 100,
    tol: float = 1e-3,
    random_state: np.random.RandomState,
    warm_params: Any = None,
    progress: tuple = (0, None),
    rtol: float = 1e-9,
    verbose: int = 0,
    verbose_interval: int = 10,
    name: str | None = None,
) -> FitResult:
    """Fit ``model`` by coordinate ascent; keep the best of ``n_init`` starts.

    Convergence: from the second iteration of the whole run on, the last gain
    relative to the gain since the first iteration,
    |L_t - L_{t-1}| <= tol |L_t - L_1| or a step that did not raise the bound
    by more than float64 resolves, and not a decrease beyond rounding.
    With ``warm_params`` (a warm start: one start, from them), ``progress``
    carries (iterations run, L_1) of the fits before, so that a run cut into
    many calls stops where one long call would.
    """
    best: FitResult | None = None
    n_starts = 1 if warm_params is not None else n_init
    bar = Progress(n_starts * max_iter, "iterations", name or "fit", enabled=bool(verbose))
    with one_blas_thread(), bar:  # small products (see one_blas_thread)
        fixed = model.summarize(executor, X, sample_weight)  # once, for every start
        for init in range(n_starts):
            result = _one_start(model, executor, X, sample_weight, fixed, init, bar, max_iter=max_iter, tol=tol,
                                random_state=random_state, warm_params=warm_params, progress=progress, rtol=rtol,
                                verbose=verbose, verbose_interval=verbose_interval, name=name)
            if best is None or result.bound > best.bound:
                best = result
    return best


def _one_start(model: ConjugateModel, executor: Any, X: Any, sample_weight: Any, fixed: Any, init: int,
               bar: Progress, *, max_iter: int, tol: float, random_state: np.random.RandomState, warm_params: Any,
               progress: tuple, rtol: float, verbose: int, verbose_interval: int, name: str | None) -> FitResult:
    """Start ``init`` of :func:`fit_loop`, run to convergence or ``max_iter``."""
    if verbose:
        bar.line(f"Initialization {init}")
    start = time.perf_counter()
    tracker = ELBOTracker(monotone=True, rtol=rtol, name=name)
    params = model.initialize(executor, X, sample_weight, random_state) if warm_params is None else warm_params
    done, reference = (0, None) if warm_params is None else progress

    def local_pass(params: Any, n_iter: int, allowance: float) -> tuple[Any, float]:
        if fixed is not None:
            stats = model.summary_step(fixed, *model.local_params(params))
        else:
            stats = executor.map_sum(model.local_step, X, sample_weight, *model.local_params(params))
        record = model.bound(params, stats, model.local_name)
        if not np.isfinite(record.value):
            # Never hand back NaN parameters: the caller keeps its state.
            raise NonFiniteBoundError(NON_FINITE_MESSAGE.format(n_iter=n_iter))
        tracker.record(record.value, model.local_name, record.terms, allowance=allowance, error=record.error)
        return stats, record.value

    stats, bound = local_pass(params, 0, 0.0)
    bounds: list[float] = []
    converged = False
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        prev = bound
        allowance = 0.0
        for step, update in model.global_updates():
            params, permitted = update(params, stats)
            allowance += permitted
            if model.record_each_update:
                record = model.bound(params, stats, step)
                tracker.record(record.value, step, record.terms, allowance=allowance, error=record.error)
                allowance = 0.0
        stats, bound = local_pass(params, n_iter, allowance)
        bounds.append(bound)
        change = bound - prev
        bar.update(init * max_iter + n_iter, f"ELBO {bound:.6g}")
        if verbose and n_iter % verbose_interval == 0:
            if verbose >= 2:
                bar.line(f"  Iteration {n_iter}\t time lapse {time.perf_counter() - start:.5f}s\t ELBO change {change:.5g}")
            else:
                bar.line(f"  Iteration {n_iter}")
        if done + n_iter == 1:
            reference = bound
        if has_converged(done + n_iter, prev, bound, reference, tol, tracker.tolerance(prev)):
            converged = True
            break
    bar.update((init + 1) * max_iter, f"ELBO {bound:.6g}")
    if verbose:
        state = "converged" if converged else "did not converge"
        if verbose >= 2:
            bar.line(f"Initialization {state}. time lapse {time.perf_counter() - start:.5f}s\t lower bound {bound:.5f}")
        else:
            bar.line(f"Initialization {state}.")
    return FitResult(params, stats, bound, converged, n_iter, bounds, tracker, (done + n_iter, reference))
