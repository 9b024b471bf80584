"""The fit loop that EM and CAVI share, and the public methods of a mixture.

A template method in the manner of scikit-learn's ``BaseMixture``: the loop
below calls the model's hooks

* ``_initialize``: global parameters from initial responsibilities;
* ``_log_rho``: unnormalised log responsibilities of a chunk (the E-step,
  or the q(Z) update);
* ``_record_e_step``: the bound after the E-step (recorded in the tracker);
* ``_m_step``: global parameters from the statistics (records its own bound);

and owns everything else: parameter and input validation, the chunked passes
over X, ``n_init``, ``warm_start``, convergence, verbosity, the ELBO tracker
and the prediction methods.  Fitted attributes are assigned only once a fit
has succeeded, so an error half way leaves the estimator as it was.
"""

from __future__ import annotations

import numbers
import time
import warnings
from abc import ABCMeta, abstractmethod
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._backend import Backend, NotPositiveDefiniteError, get_backend, DEVICES
from .._elbo import ELBOTracker
from .._validation import (
    check_data,
    check_option,
    check_random_state_param,
    check_scalar,
    check_verbose,
    check_warm_start,
    checking_parameters_of,
    unchanged_on_error,
)
from ._covariance import COVARIANCE_TYPES, Covariance, Residuals, get_covariance, residuals, split_centers
from ._stats import GaussianStats, accumulate, auto_chunk_size, chunk_slices, normalize_log_rho

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")

#: Relative tolerance of the monotone-ascent check, by dtype of X.
ASCENT_RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}

NON_FINITE_MESSAGE = (
    "The evidence lower bound became non-finite at iteration {n_iter}, so the "
    "parameters are unusable. Try float64 input, a larger reg_covar, or "
    "scaling the input data."
)

SINGULAR_MESSAGE = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton or "
    "collapsed samples). Try to decrease the number of components, increase "
    "reg_covar, or scale the input data."
)


class BaseMixture(DensityMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class for mixture models fitted by EM or coordinate ascent.

    Not for direct use; see :class:`varbayes.GaussianMixture`.
    """

    def __init__(
        self,
        n_components: int,
        tol: float,
        reg_covar: float,
        max_iter: int,
        n_init: int,
        init_params: str,
        random_state: Any,
        warm_start: bool,
        verbose: int,
        verbose_interval: int,
        device: str,
        chunk_size: int | None,
    ) -> None:
        self.n_components = n_components
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.device = device
        self.chunk_size = chunk_size

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _check_model_parameters(self, n_features: int, dtype: np.dtype) -> None:
        """Validate the model's own parameters (priors, initial values)."""

    @abstractmethod
    def _initialize(self, be: Backend, cov: Covariance, stats: GaussianStats | None, dtype: np.dtype) -> dict:
        """Initial parameters (float64, on the device) from initial statistics."""

    @abstractmethod
    def _e_step_terms(self, be: Backend, cov: Covariance, params: dict) -> dict:
        """What the E-step needs: 'centers' (K, d), 'prec_chol' and 'log_const' (K,).

        The unnormalised log responsibility is then
        log rho_nk = log_const_k - 1/2 ||(x_n - centers_k)^T prec_chol_k||^2.
        """

    @abstractmethod
    def _record_e_step(self, be: Backend, cov: Covariance, stats: GaussianStats, params: dict, tracker: ELBOTracker) -> float:
        """Record and return the bound (per sample) after an E-step."""

    @abstractmethod
    def _m_step(self, be: Backend, cov: Covariance, stats: GaussianStats, params: dict, tracker: ELBOTracker) -> dict:
        """New parameters from the statistics; records the bound it reaches."""

    @abstractmethod
    def _params_to_attributes(
        self, be: Backend, cov: Covariance, params: dict, stats: GaussianStats, dtype: np.dtype
    ) -> dict:
        """The fitted attributes (NumPy, in ``dtype``) of device parameters.

        ``stats`` are those of the final E-step (the returned q(Z)).
        """

    @abstractmethod
    def _attributes_to_params(self, be: Backend, cov: Covariance) -> dict:
        """Device parameters (float64) from the fitted attributes."""

    def _prepare(self, be: Backend, X: Any, cov: Covariance) -> None:
        """Set up what a fit needs from the data before initialising (e.g. priors)."""

    def _structure(self) -> dict:
        """The parameters that shape the fitted state (a warm start needs them unchanged)."""
        return {"n_components": self.n_components, "covariance_type": self.covariance_type}

    def _needs_initial_resp(self) -> bool:
        """Whether initialisation needs responsibilities from ``init_params``."""
        return True

    # ------------------------------------------------------------ validation
    def _check_parameters(self, X: Any) -> None:
        check_scalar(self.n_components, "n_components", numbers.Integral, low=1)
        check_scalar(self.tol, "tol", numbers.Real, low=0.0)
        check_scalar(self.reg_covar, "reg_covar", numbers.Real, low=0.0)
        check_scalar(self.max_iter, "max_iter", numbers.Integral, low=0)
        check_scalar(self.n_init, "n_init", numbers.Integral, low=1)
        check_option(self.init_params, "init_params", INIT_PARAMS)
        check_option(self.covariance_type, "covariance_type", tuple(COVARIANCE_TYPES))
        check_random_state_param(self.random_state)
        check_option(self.warm_start, "warm_start", (False, True))
        check_verbose(self.verbose)
        check_scalar(self.verbose_interval, "verbose_interval", numbers.Integral, low=1)
        check_option(self.device, "device", DEVICES)
        check_scalar(self.chunk_size, "chunk_size", numbers.Integral, low=1, allow_none=True)
        if X.shape[0] < self.n_components:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {X.shape[0]}. Reduce "
                "n_components or pass more samples."
            )
        self._check_model_parameters(X.shape[1], X.dtype)

    def _chunk_rows(self, be: Backend, X: Any) -> int:
        if self.chunk_size is not None:
            return self.chunk_size
        return auto_chunk_size(be, X.shape[0], self.n_components, X.shape[1], X.dtype.itemsize)

    # ------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None) -> "BaseMixture":
        """Estimate the model parameters from X.

        With ``n_init > 1`` the fit is repeated from that many initialisations
        and the one with the largest bound is kept.  With ``warm_start=True``
        a fitted estimator continues from its current parameters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NumPy input (float32 kept as float32, other dtypes converted to
            float64) or a CuPy array (fitted on the GPU with ``device='auto'``).
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self
        """
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        with unchanged_on_error(self):
            if not do_init:
                check_warm_start(self, self._structure())
            X = check_data(self, X, reset=do_init, ensure_min_samples=2)
            with checking_parameters_of(self):
                self._check_parameters(X)
            be = get_backend(self.device, X)
            X = be.asarray(X)
            try:
                result = self._fit(be, X, do_init)
            except NotPositiveDefiniteError:
                raise ValueError(SINGULAR_MESSAGE) from None
        for name, value in result.items():
            setattr(self, name, value)
        return self

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        """Fit the model and return the most likely component of each sample.

        Equivalent to ``fit(X).predict(X)``.
        """
        return self.fit(X, y).predict(X)

    def _fit(self, be: Backend, X: Any, do_init: bool) -> dict:
        n_samples, n_features = X.shape
        cov = get_covariance(self.covariance_type, self.n_components, n_features)
        chunk = self._chunk_rows(be, X)
        random_state = check_random_state(self.random_state)
        n_init = self.n_init if do_init else 1
        rtol = ASCENT_RTOL[np.dtype(X.dtype)]
        self._prepare(be, X, cov)

        best = None
        best_bound = -np.inf
        for init in range(n_init):
            if self.verbose:
                print(f"Initialization {init}")
            start = time.perf_counter()
            tracker = ELBOTracker(monotone=True, rtol=rtol, name=type(self).__name__)
            if do_init:
                stats = None
                if self._needs_initial_resp():
                    stats = accumulate(be, cov, X, chunk, self._initial_resp_fn(be, X, random_state))
                params = self._initialize(be, cov, stats, X.dtype)
            else:
                params = self._attributes_to_params(be, cov)
            # Convergence is judged over the whole run: a warm start carries on
            # the count and the reference L_1 of the fits before it, so that
            # warm_start=True, max_iter=1 repeated until converged_ stops where
            # one long fit would.
            done, reference = (0, None) if do_init else self._convergence_state()

            def e_step(params: dict, n_iter: int) -> tuple[GaussianStats, float]:
                stats = self._e_step(be, cov, X, chunk, params)
                bound = self._record_e_step(be, cov, stats, params, tracker)
                if not np.isfinite(bound):
                    # Never hand back NaN parameters: fail, leaving the estimator as it was.
                    raise ValueError(NON_FINITE_MESSAGE.format(n_iter=n_iter))
                return stats, bound

            stats, bound = e_step(params, 0)
            bounds: list[float] = []
            converged = False
            n_iter = 0
            for n_iter in range(1, self.max_iter + 1):
                prev = bound
                params = self._m_step(be, cov, stats, params, tracker)
                stats, bound = e_step(params, n_iter)
                bounds.append(bound)
                change = bound - prev
                if self.verbose and n_iter % self.verbose_interval == 0:
                    if self.verbose >= 2:
                        print(f"  Iteration {n_iter}\t time lapse {time.perf_counter() - start:.5f}s\t ELBO change {change:.5g}")
                    else:
                        print(f"  Iteration {n_iter}")
                if done + n_iter == 1:
                    reference = bound
                # The last gain relative to the gain since the first iteration:
                # free of the bound's scale and additive constants, and of the
                # first jump away from a poor start.  A decrease beyond rounding
                # is never convergence.  tol = 0 runs max_iter iterations (as
                # scikit-learn); an exact fixed point converges for any tol > 0.
                if (
                    done + n_iter >= 2
                    and self.tol > 0
                    and abs(change) <= self.tol * abs(bound - reference)
                    and change >= -tracker.tolerance(prev)
                ):
                    converged = True
                    break
            if self.verbose:
                state = "converged" if converged else "did not converge"
                if self.verbose >= 2:
                    print(f"Initialization {state}. time lapse {time.perf_counter() - start:.5f}s\t lower bound {bound:.5f}")
                else:
                    print(f"Initialization {state}.")
            if bound > best_bound or best is None:
                best_bound = bound
                best = (params, stats, converged, n_iter, bounds, tracker, (done + n_iter, reference))

        params, stats, converged, n_iter, bounds, tracker, convergence = best
        if not converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different "
                "init parameters, or increase max_iter, tol, or check for "
                "degenerate data.",
                ConvergenceWarning,
            )
        attributes = self._params_to_attributes(be, cov, params, stats, np.dtype(X.dtype))
        attributes.update(
            converged_=converged,
            n_iter_=n_iter,
            lower_bound_=best_bound,
            lower_bounds_=bounds,
            elbo_=tracker,
            _fitted_structure=self._structure(),
            _convergence=convergence,
        )
        return attributes

    def _convergence_state(self) -> tuple[int, float | None]:
        """(iterations run, L_1) over the fits a warm start continues."""
        return getattr(self, "_convergence", (0, None))

    def _e_step(self, be: Backend, cov: Covariance, X: Any, chunk: int, params: dict) -> GaussianStats:
        """One chunked pass: responsibilities under ``params`` and their statistics."""
        local = self._chunk_params(be, cov, params, X.dtype)

        def resp_fn(R: Residuals, rows: slice) -> tuple:
            return normalize_log_rho(be, self._log_rho(be, cov, R, local))

        # Moments about the current centres: no cancellation for a component
        # far from the others (see ._stats).
        return accumulate(be, cov, X, chunk, resp_fn, origin=local["centers"])

    @staticmethod
    def _counts(stats: GaussianStats) -> Any:
        """N_k + 10 eps, as scikit-learn: keeps an empty component's mean finite."""
        return stats.counts + 10 * np.finfo(stats.dtype).eps

    @staticmethod
    def _trace_error(be: Backend, cov: Covariance, stats: GaussianStats, prec_chol: Any) -> float:
        """A bound, per sample, on the rounding error of 1/2 sum_k tr(Lambda_k S_k)
        computed from the summed statistics (see ``GaussianStats.rounding``).

        An ill-conditioned precision (a component collapsing onto a subspace,
        Lambda up to 1 / reg_covar there) amplifies the statistics' rounding
        far beyond a relative tolerance on the bound: the tracker is told.
        """
        xp = be.xp
        return 0.5 * stats.rounding * be.scalar(xp.sum(cov.abs_trace(xp, prec_chol, stats.second))) / stats.n_samples

    def _reg_allowance(self, be: Backend, cov: Covariance, stats: GaussianStats, old: Any, new: Any) -> float:
        """How far the bound may fall in an update of the precisions because of reg_covar.

        ``old`` and ``new`` are the Cholesky factors of (the expectation of)
        each precision before and after the update.  With reg_covar = c the
        update adds c N_k I to each scatter, which makes it the exact maximiser
        of the penalised bound L - c/2 sum_k N_k E[tr(Lambda_k)], so
        L_new >= L_old - c/2 sum_k N_k (E_old[tr Lambda_k] - E_new[tr Lambda_k]).
        Returns that last sum per sample where positive; 0 for reg_covar = 0.
        """
        if self.reg_covar == 0:
            return 0.0
        xp = be.xp
        change = cov.trace_precision(xp, old) - cov.trace_precision(xp, new)
        penalty = 0.5 * self.reg_covar * xp.sum(stats.counts * change)
        return max(0.0, be.scalar(penalty) / stats.n_samples)

    def _chunk_params(self, be: Backend, cov: Covariance, params: dict, dtype: Any) -> dict:
        """The E-step terms in the dtype of X; the centres stay float64, the
        residuals are taken about them exactly (see ``split_centers``)."""
        terms = self._e_step_terms(be, cov, params)
        return {k: v if k == "centers" else v.astype(dtype) for k, v in terms.items()}

    @staticmethod
    def _log_rho(be: Backend, cov: Covariance, R: Residuals, local: dict) -> Any:
        """Unnormalised log responsibilities of a chunk, shape (rows, K).

        ``R`` holds the chunk's residuals about ``local['centers']``.
        """
        log_rho = cov.mahalanobis(be.xp, R, local["prec_chol"])
        log_rho *= -0.5
        log_rho += local["log_const"]
        return log_rho

    def _initial_resp_fn(self, be: Backend, X: Any, random_state: np.random.RandomState):
        """Chunk evaluator of the initial responsibilities chosen by ``init_params``.

        Mirrors scikit-learn's initialisation (the same random draws for the
        same ``random_state``), but produces responsibilities chunk by chunk:
        one-hot labels, or uniform draws taken in row order.  Each pass over
        the rows gives the same responsibilities (``accumulate`` takes two),
        and leaves ``random_state`` as after one draw of all of them.
        """
        xp = be.xp
        n_samples = X.shape[0]
        K = self.n_components
        dtype = X.dtype
        if self.init_params == "random":
            start = random_state.get_state()
            local = np.random.RandomState()

            def resp_fn(R, rows):
                if rows.start == 0:
                    local.set_state(start)
                u = local.uniform(size=(rows.stop - rows.start, K)).astype(dtype)
                if rows.stop == n_samples:
                    random_state.set_state(local.get_state())
                u /= u.sum(axis=1)[:, None]
                return be.asarray(u), None, None

            return resp_fn
        if self.init_params == "kmeans":
            from sklearn.cluster import KMeans

            labels = KMeans(n_clusters=K, n_init=1, random_state=random_state).fit(be.to_host(X)).labels_
        else:
            if self.init_params == "random_from_data":
                indices = random_state.choice(n_samples, size=K, replace=False)
            else:  # k-means++
                from sklearn.cluster import kmeans_plusplus

                _, indices = kmeans_plusplus(be.to_host(X), K, random_state=random_state)
            labels = np.full(n_samples, -1)
            labels[indices] = np.arange(K)
        labels = be.asarray(labels)
        eye = xp.eye(K, dtype=dtype)

        def resp_fn(R, rows):
            lab = labels[rows]
            resp = eye[xp.maximum(lab, 0)]
            resp *= (lab >= 0)[:, None]
            return resp, None, None

        return resp_fn

    # ------------------------------------------------------------ prediction
    def _prediction_chunks(self, X: Any):
        """Validate X; return the backend, the covariance, the dtype of X and
        an iterator over (rows, chunk)."""
        check_is_fitted(self)
        X = check_data(self, X, reset=False)
        be = get_backend(self.device, X)
        X = be.asarray(X)
        cov = get_covariance(self.covariance_type, self.n_components, X.shape[1])
        chunks = ((rows, X[rows]) for rows in chunk_slices(X.shape[0], self._chunk_rows(be, X)))
        return be, cov, X.dtype, chunks

    def _chunked_log_rho(self, X: Any):
        """Validate X, then yield (rows, log_rho) chunk by chunk on the device."""
        be, cov, dtype, chunks = self._prediction_chunks(X)
        params = self._chunk_params(be, cov, self._attributes_to_params(be, cov), dtype)
        hi, lo = split_centers(be.xp, params["centers"], dtype)
        for rows, Xc in chunks:
            yield be, rows, self._log_rho(be, cov, residuals(be.xp, Xc, hi, lo), params)

    def _collect(self, parts: list, be: Backend) -> np.ndarray:
        return be.to_host(be.xp.concatenate(parts)) if parts else np.empty(0)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior probability of each component for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        resp : ndarray of shape (n_samples, n_components)
            Responsibilities, rows sum to one.
        """
        parts, be = [], None
        for be, _, log_rho in self._chunked_log_rho(X):
            resp, _, _ = normalize_log_rho(be, log_rho)
            parts.append(resp)
        return self._collect(parts, be)

    def predict(self, X: Any) -> np.ndarray:
        """The most likely component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        parts, be = [], None
        for be, _, log_rho in self._chunked_log_rho(X):
            parts.append(be.xp.argmax(log_rho, axis=1))
        return self._collect(parts, be)

    def score_samples(self, X: Any) -> np.ndarray:
        """Log density of each sample under the model, log p(x_n).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        parts, be = [], None
        for be, _, log_rho in self._chunked_log_rho(X):
            parts.append(be.logsumexp(log_rho, axis=1))
        return self._collect(parts, be)

    def score(self, X: Any, y: Any = None) -> float:
        """Mean log density of the samples, the per-sample log-likelihood.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        float
        """
        return float(np.mean(self.score_samples(X), dtype=np.float64))

    def _check_sample_count(self, n_samples: Any) -> None:
        check_is_fitted(self)
        check_scalar(n_samples, "n_samples", numbers.Integral)
        if n_samples < 1:
            # scikit-learn's words (its message prints n_components instead).
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling requires at least one sample."
            )
