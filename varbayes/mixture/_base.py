"""What EM and CAVI share: the mixture's local step, its initialisation, and
the estimator's public methods.

A mixture is fitted by the variational core (:func:`varbayes.vi.fit_loop`)
through a per-fit *model* object (:class:`MixtureModel`, subclassed by EM and
CAVI), which holds everything a fit needs (backend, covariance type, priors)
and implements the core's hooks: the local step is the E-step
(:func:`._stats.e_step`, the same for both), the global updates and the bound
are the model's own.  The estimator (:class:`BaseMixture`) owns parameter
and input validation, the conversion between device parameters and fitted
attributes, and the prediction methods; fitted attributes are assigned only
once a fit has succeeded, so an error half way leaves the estimator as it was.
"""

from __future__ import annotations

import copy
import dataclasses
import numbers
import warnings
from abc import ABCMeta, abstractmethod
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, DensityMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._backend import (
    DEVICES,
    Backend,
    NotPositiveDefiniteError,
    get_backend,
    input_namespace,
    is_gpu_array,
    to_numpy,
)
from .._execution import get_executor, is_dask_array, workspace
from .._progress import Progress
from .._validation import (
    check_data,
    check_option,
    check_random_state_param,
    check_same_namespace,
    check_sample_weight,
    check_scalar,
    check_verbose,
    check_warm_start,
    checking_parameters_of,
    unchanged_on_error,
)
from ..vi import ConjugateModel, OnlineState, fit_loop, has_converged, online_steps
from ._covariance import COVARIANCE_TYPES, Covariance, get_covariance
from ._stats import (
    EStepTerms,
    GaussianStats,
    auto_chunk_size,
    chunk_log_rho,
    e_step,
    initial_stats,
    normalize_log_rho,
    one_hot_stats,
    residual_pieces,
)

INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
LEARNING_METHODS = ("batch", "online")

#: Relative tolerance of the monotone-ascent check, by dtype of X.
ASCENT_RTOL = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-4}

SINGULAR_MESSAGE = (
    "Fitting the mixture model failed because some components have "
    "ill-defined empirical covariance (for instance caused by singleton or "
    "collapsed samples). Try to decrease the number of components, increase "
    "reg_covar, or scale the input data."
)


class MixtureModel(ConjugateModel):
    """A Gaussian mixture for the variational core: the E-step as the local
    step, initialisation from ``init_params``; subclasses give the global
    updates, the bound and :meth:`e_step_terms`.

    Parameters
    ----------
    be : Backend
    cov : Covariance
    reg_covar : float
    init_params : str
    dtype : numpy dtype
        That of X: the E-step's per-chunk arithmetic runs in it.
    """

    local_name = "E"

    def __init__(self, be: Backend, cov: Covariance, reg_covar: float, init_params: str, dtype: Any) -> None:
        self.be = be
        self.cov = cov
        self.reg_covar = float(reg_covar)
        self.init_params = init_params
        self.dtype = np.dtype(dtype)

    # -- the core's hooks ----------------------------------------------------
    def local_params(self, params: dict) -> tuple:
        return (self.be, self.e_step_terms(params))

    local_step = staticmethod(e_step)

    def initialize(self, executor: Any, X: Any, sample_weight: Any, random_state: np.random.RandomState) -> dict:
        return self.initialize_with_stats(executor, X, sample_weight, random_state)[0]

    def initialize_with_stats(
        self, executor: Any, X: Any, sample_weight: Any, random_state: np.random.RandomState
    ) -> tuple[dict, GaussianStats | None]:
        """Initial parameters and the statistics of the initial responsibilities
        they came from (None when every initial value is given)."""
        stats = None
        if self.needs_initial_resp():
            resp_fn = initial_resp_fn(self.be, executor, X, sample_weight, self.cov.K, self.init_params, random_state)
            if isinstance(resp_fn, _OneHotRows):  # K rows own everything: no pass over X
                stats = one_hot_stats(executor, self.be, self.cov, X, sample_weight, resp_fn.indices)
            else:
                stats = initial_stats(executor, self.be, self.cov, X, sample_weight, resp_fn)
        return self.initial_params(stats), stats

    # -- the stochastic steps' hooks (see varbayes.vi._stochastic) ---------------
    @staticmethod
    def scale_stats(stats: GaussianStats, factor: float) -> GaussianStats:
        return stats.scaled(factor)

    def blend_stats(self, running: GaussianStats, new: GaussianStats, rho: float) -> GaussianStats:
        return running.blend(self.be.xp, self.cov, new, rho)

    # -- the model's own -------------------------------------------------------
    @abstractmethod
    def e_step_terms(self, params: dict) -> EStepTerms:
        """The E-step's broadcast parameters: log rho_nk = log_const_k - 1/2 ||P_k^T (x_n - c_k)||^2."""

    @abstractmethod
    def initial_params(self, stats: GaussianStats | None) -> dict:
        """Initial parameters (float64, on the device) from initial statistics."""

    def needs_initial_resp(self) -> bool:
        """Whether initialisation needs responsibilities from ``init_params``."""
        return True

    # -- shared algebra --------------------------------------------------------
    @staticmethod
    def counts(stats: GaussianStats) -> Any:
        """N_k + 10 eps, as scikit-learn: keeps an empty component's mean finite."""
        return stats.counts + 10 * np.finfo(stats.dtype).eps

    def trace_error(self, stats: GaussianStats, prec_chol: Any) -> float:
        """A bound, per sample, on the rounding error of 1/2 sum_k tr(Lambda_k S_k)
        computed from the summed statistics (see ``GaussianStats.rounding``).

        An ill-conditioned precision (a component collapsing onto a subspace,
        Lambda up to 1 / reg_covar there) amplifies the statistics' rounding
        far beyond a relative tolerance on the bound: the tracker is told.
        """
        xp = self.be.xp
        total = self.be.scalar(xp.sum(self.cov.abs_trace(xp, prec_chol, stats.second)))
        return 0.5 * stats.rounding * total / stats.n_samples

    def reg_allowance(self, stats: GaussianStats, old: Any, new: Any) -> float:
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
        xp = self.be.xp
        change = self.cov.trace_precision(xp, old) - self.cov.trace_precision(xp, new)
        penalty = 0.5 * self.reg_covar * xp.sum(stats.counts * change)
        return max(0.0, self.be.scalar(penalty) / stats.n_samples)


#: Rows of the sample that 'kmeans' and 'k-means++' start from on a Dask array.
INIT_SAMPLE_SIZE = 100_000


def initial_resp_fn(
    be: Backend, executor: Any, X: Any, sample_weight: Any, K: int, init_params: str, random_state: np.random.RandomState
):
    """Chunk evaluator ``(chunk, rows) -> resp`` of the initial responsibilities.

    In process, mirrors scikit-learn's initialisation (the same random draws
    for the same ``random_state``), producing responsibilities chunk by
    chunk: one-hot labels, or uniform draws taken in row order.  Each pass
    over the rows gives the same responsibilities (``initial_stats`` takes
    two), and leaves ``random_state`` as after one draw of all of them.
    'kmeans' and 'k-means++' weigh the rows by ``sample_weight``.

    On a distributed executor (a Dask array), the evaluator is a pure
    function of the chunk and its row positions, so that blocks can run
    anywhere, in any order:

    * 'random': uniform draws keyed by (seed, row position) with the
      backend's counter-based generator (not scikit-learn's sequential ones);
    * 'random_from_data': scikit-learn's draw of K row positions, exactly as
      in process (only those K rows matter);
    * 'k-means++': scikit-learn's ``kmeans_plusplus`` on a uniform sample of
      ``INIT_SAMPLE_SIZE`` rows (with their weights), its K seeds mapped
      back to their row positions;
    * 'kmeans': scikit-learn's ``KMeans`` on that sample, each row then
      assigned to its nearest centre.

    A sample keeps the client's memory and traffic bounded (100 000 rows of
    20 features are 16 MB), and K-means on it finds centres as good as on
    all rows when every cluster has many rows in it: a starting point, which
    the fit then refines on all of X.
    """
    xp = be.xp
    n_samples = X.shape[0]
    dtype = X.dtype
    if init_params == "random":
        if executor.distributed:
            return _KeyedUniformResp(be, int(random_state.randint(np.iinfo(np.int32).max)), K, np.dtype(dtype))
        start = random_state.get_state()
        local = np.random.RandomState()

        def resp_fn(Xc, rows):
            if rows.start == 0:
                local.set_state(start)
            u = local.uniform(size=(rows.stop - rows.start, K)).astype(dtype)
            if rows.stop == n_samples:
                random_state.set_state(local.get_state())
            u /= u.sum(axis=1)[:, None]
            return be.asarray(u)

        return resp_fn
    if init_params == "random_from_data":
        return _OneHotRows(be, random_state.choice(n_samples, size=K, replace=False), K)
    if executor.distributed:
        if n_samples <= INIT_SAMPLE_SIZE:  # the sample is all of X: no draw, the in-memory start
            positions = np.arange(n_samples)
        else:
            rng = np.random.default_rng(random_state.randint(np.iinfo(np.int32).max))
            positions = np.sort(rng.choice(n_samples, size=INIT_SAMPLE_SIZE, replace=False))
        sample = be.to_host(executor.take(X, positions))
        weights = None if sample_weight is None else be.to_host(executor.take(sample_weight, positions))
    else:
        positions, sample = None, be.to_host(X)
        weights = None if sample_weight is None else be.to_host(sample_weight)
    if init_params == "kmeans":
        from sklearn.cluster import KMeans

        kmeans = KMeans(n_clusters=K, n_init=1, random_state=random_state).fit(sample, sample_weight=weights)
        if executor.distributed:
            return _NearestCenterResp(be, kmeans.cluster_centers_.astype(dtype))
        labels = be.asarray(kmeans.labels_)
        eye = xp.eye(K, dtype=dtype)
        return lambda Xc, rows: eye[labels[rows]]
    from sklearn.cluster import kmeans_plusplus

    _, indices = kmeans_plusplus(sample, K, random_state=random_state, sample_weight=weights)
    return _OneHotRows(be, indices if positions is None else positions[indices], K)


class _OneHotRows:
    """Initial responsibilities: component j owns the row at position ``indices[j]``.

    K chosen rows, one per component: no per-row array (X may be a memmap).
    """

    def __init__(self, be: Backend, indices: Any, K: int) -> None:
        # A copy: RandomState.choice returns a view of its permutation of all
        # n rows, which would stay alive (n integers) for the whole fit.
        self.be, self.indices, self.K = be, np.array(indices), K

    def __call__(self, Xc: Any, rows: slice) -> Any:
        be, indices = self.be, self.indices
        resp = be.xp.zeros((rows.stop - rows.start, self.K), dtype=Xc.dtype)
        inside = (indices >= rows.start) & (indices < rows.stop)
        if inside.any():
            resp[be.asarray(indices[inside] - rows.start), be.asarray(np.flatnonzero(inside))] = 1.0
        return resp


class _KeyedUniformResp:
    """Initial responsibilities of 'random' on Dask: uniforms keyed by (seed, row position), normalised."""

    def __init__(self, be: Backend, seed: int, K: int, dtype: Any) -> None:
        self.be, self.seed, self.K, self.dtype = be, seed, K, dtype

    def __call__(self, Xc: Any, rows: slice) -> Any:
        u = self.be.keyed_uniform(self.be.position_keys(rows, self.seed), 0, self.K, self.dtype)
        return u / u.sum(axis=1)[:, None]


class _NearestCenterResp:
    """Initial responsibilities of 'kmeans' on Dask: one-hot on the nearest K-means centre."""

    def __init__(self, be: Backend, centers: np.ndarray) -> None:
        self.be, self.centers = be, centers

    def __call__(self, Xc: Any, rows: slice) -> Any:
        xp = self.be.xp
        C = self.be.asarray(self.centers)
        distances = (Xc**2).sum(axis=1)[:, None] - 2.0 * Xc @ C.T + (C**2).sum(axis=1)[None, :]
        return xp.eye(C.shape[0], dtype=Xc.dtype)[xp.argmin(distances, axis=1)]


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
        learning_method: str = "batch",
        learning_offset: float = 10.0,
        learning_decay: float = 0.6,
        batch_size: int = 1024,
        total_samples: float = 1e6,
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
        self.learning_method = learning_method
        self.learning_offset = learning_offset
        self.learning_decay = learning_decay
        self.batch_size = batch_size
        self.total_samples = total_samples

    # ------------------------------------------------------------------ hooks
    @abstractmethod
    def _check_model_parameters(self, n_features: int, dtype: np.dtype) -> None:
        """Validate the model's own parameters (priors, initial values)."""

    @abstractmethod
    def _model(self, be: Backend, cov: Covariance, executor: Any, X: Any, sample_weight: Any) -> MixtureModel:
        """The model a fit of X runs (with its priors, e.g. defaults from X)."""

    @abstractmethod
    def _fitted_model(self, be: Backend, cov: Covariance, dtype: Any) -> MixtureModel:
        """The model of the fitted estimator (priors from the fitted attributes)."""

    @abstractmethod
    def _params_to_attributes(self, model: MixtureModel, params: dict, stats: GaussianStats, dtype: np.dtype) -> dict:
        """The fitted attributes (NumPy, in ``dtype``) of device parameters.

        ``stats`` are those of the final E-step (the returned q(Z)).
        """

    @abstractmethod
    def _attributes_to_params(self, model: MixtureModel) -> dict:
        """Device parameters (float64) from the fitted attributes."""

    def _structure(self) -> dict:
        """The parameters that shape the fitted state (a warm start needs them unchanged)."""
        return {"n_components": self.n_components, "covariance_type": self.covariance_type}

    # ------------------------------------------------------------ validation
    def _check_parameters(self, X: Any, initialising: bool = True) -> None:
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
        check_option(self.learning_method, "learning_method", LEARNING_METHODS)
        check_scalar(self.learning_offset, "learning_offset", numbers.Real, low=0.0)
        # Robbins-Monro: sum rho_t = inf and sum rho_t^2 < inf.
        check_scalar(self.learning_decay, "learning_decay", numbers.Real, low=0.5, high=1.0, include_low=False)
        check_scalar(self.batch_size, "batch_size", numbers.Integral, low=1)
        check_scalar(self.total_samples, "total_samples", numbers.Real, low=0.0, include_low=False)
        if initialising and X.shape[0] < self.n_components:
            raise ValueError(
                f"Expected n_samples >= n_components but got n_components = "
                f"{self.n_components}, n_samples = {X.shape[0]}. Reduce "
                "n_components or pass more samples."
            )
        self._check_model_parameters(X.shape[1], X.dtype)

    def _chunk_rows(self, be: Backend, X: Any) -> int:
        if self.chunk_size is not None:
            return self.chunk_size
        cov = get_covariance(self.covariance_type, self.n_components, X.shape[1])
        return auto_chunk_size(be, cov, X.shape[0], X.dtype)

    # ------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> "BaseMixture":
        """Estimate the model parameters from X.

        With ``n_init > 1`` the fit is repeated from that many initialisations
        and the one with the largest bound is kept.  With ``warm_start=True``
        a fitted estimator continues from its current parameters.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NumPy input (float32 kept as float32, other dtypes converted to
            float64), a CuPy array (fitted on the GPU with ``device='auto'``)
            or an array of another array-API library, taken through DLPack (a
            CUDA tensor is fitted on its GPU).  Under scikit-learn's
            ``array_api_dispatch`` the fitted attributes, and the outputs of
            later calls, are in X's namespace and on its device; without it
            they are NumPy arrays.
        y : Ignored
            Not used, present for API consistency.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row: every sum over rows (statistics,
            bound, the 'kmeans' and 'k-means++' initialisations) weighs row n
            by w_n, so integer weights fit as repeated rows and a zero weight
            as a dropped row.  The bound is per unit of weight.

        Returns
        -------
        self
        """
        do_init = not (self.warm_start and hasattr(self, "converged_"))
        online = self.learning_method == "online"
        fit = self._fit_online if online else self._fit
        return self._checked_call(X, sample_weight, reset=do_init, initialising=True, online=online,
                                  fit=lambda be, X, w: fit(be, X, w, do_init), method="fit")

    def _checked_call(self, X: Any, sample_weight: Any, *, reset: bool, initialising: bool, online: bool, fit: Any,
                      method: str, ensure_min_samples: int = 2) -> "BaseMixture":
        """Validate, then run ``fit(be, X, sample_weight)`` and assign the attributes it returns.

        Shared by ``fit`` and ``partial_fit``.  Every check runs before any
        work; whatever raises (bad input, a singular covariance, an
        interrupt) leaves the estimator as it was.
        """
        with unchanged_on_error(self):
            ns = input_namespace(X)  # under array-API dispatch, where the attributes go
            if not reset:  # continuing a fit: under dispatch, on arrays like the fit's
                check_same_namespace(X, self, method, "means_")
                check_warm_start(self, self._structure())
            X = check_data(self, X, reset=reset, ensure_min_samples=ensure_min_samples, persist=True)
            sample_weight = check_sample_weight(sample_weight, X)
            with checking_parameters_of(self):
                self._check_parameters(X, initialising=initialising)
            if online and initialising and self.batch_size < self.n_components:
                raise ValueError(
                    f"batch_size ({self.batch_size}) must be >= n_components ({self.n_components}): "
                    "the first minibatch initialises every component."
                )
            be, X = _on_backend(self.device, X)
            if sample_weight is not None:
                # On the device of X (a Dask array's weight blocks mapped like X's).
                sample_weight = (sample_weight.map_blocks(be.asarray, dtype=sample_weight.dtype)
                                 if is_dask_array(sample_weight) else be.asarray(sample_weight))
            try:
                result = fit(be, X, sample_weight)
            except NotPositiveDefiniteError:
                raise ValueError(SINGULAR_MESSAGE) from None
            if ns is not None:
                result = ns.attributes(result)
        for name, value in result.items():
            setattr(self, name, value)
        return self

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> "BaseMixture":
        """One stochastic step per minibatch of X (``batch_size`` rows), continuing the stream.

        Stochastic VI (BayesianGaussianMixture) or stepwise online EM
        (GaussianMixture), as ``learning_method='online'`` does in ``fit``
        (see the class docstring): each minibatch's statistics are scaled to
        ``total_samples`` rows and averaged into the running statistics with
        weight rho_t = (learning_offset + t)^(-learning_decay), then the global
        parameters are updated from them.  The first call initialises from its
        first minibatch (``init_params``) and fixes ``n_features_in_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        fitted = hasattr(self, "_online_state")

        def stream(be: Backend, X: Any, w: Any) -> dict:
            return self._stream(be, X, w, fitted, float(self.total_samples), epochs=1, full_pass=False)

        return self._checked_call(X, sample_weight, reset=not fitted, initialising=not fitted, online=True,
                                  fit=stream, method="partial_fit", ensure_min_samples=1)

    def _fit_online(self, be: Backend, X: Any, sample_weight: Any, do_init: bool) -> dict:
        total = float(X.shape[0] if sample_weight is None else be.scalar(sample_weight.sum(dtype=be.xp.float64)))
        continues = not do_init and hasattr(self, "_online_state")
        return self._stream(be, X, sample_weight, continues, total, epochs=self.max_iter, full_pass=True)

    def _stream(
        self, be: Backend, X: Any, sample_weight: Any, continues: bool, total: float, epochs: int, full_pass: bool
    ) -> dict:
        """Minibatch passes over X (stochastic VI or online EM), then the attributes.

        With ``full_pass`` (``fit``), each epoch ends with the full-data bound
        (one more pass over X, recorded as step 'epoch'), which judges
        convergence as in a batch fit and gives ``lower_bound_``; without
        (``partial_fit``), ``lower_bound_`` is the last minibatch's estimate.
        """
        cov = get_covariance(self.covariance_type, self.n_components, X.shape[1])
        executor = get_executor(X, self._chunk_rows(be, X))
        model = self._model(be, cov, executor, X, sample_weight) if not continues else self._fitted_model(be, cov, X.dtype)
        random_state = check_random_state(self.random_state)
        state = None
        if continues:
            running, n_steps = self._online_state
            tracker = copy.deepcopy(self.elbo_)
            state = OnlineState(self._attributes_to_params(model), _stats_to_device(be, running), n_steps, tracker)
        settings = dict(batch_size=int(self.batch_size), total_samples=total, learning_offset=float(self.learning_offset),
                        learning_decay=float(self.learning_decay), random_state=random_state, name=type(self).__name__)
        done, reference = getattr(self, "_convergence", (0, None)) if continues else (0, None)
        bounds: list[float] = []
        converged = False
        epoch = 0
        stats = None
        bar = Progress(max(epochs, 1), "epochs", type(self).__name__, enabled=bool(self.verbose) and full_pass)
        with bar:  # the bar goes, whatever ends the loop (an error too)
            for epoch in range(1, max(epochs, 1) + 1):
                first = len(state.tracker) if state is not None else 0
                state = online_steps(model, executor, X, sample_weight, state, **settings)
                if not full_pass:
                    bounds = list(state.tracker.values[first:])
                    break
                stats = executor.map_sum(model.local_step, X, sample_weight, *model.local_params(state.params))
                record = model.bound(state.params, stats, model.local_name)
                if not np.isfinite(record.value):
                    raise ValueError("The evidence lower bound became non-finite after an epoch of the online fit.")
                prev = bounds[-1] if bounds else None
                bounds.append(record.value)
                state.tracker.record(record.value, "epoch", record.terms)
                bar.update(epoch, f"ELBO {record.value:.6g}")
                if self.verbose and epoch % self.verbose_interval == 0:
                    bar.line(f"  Epoch {done + epoch}: ELBO = {record.value:.6g}")
                if done + epoch == 1:
                    reference = record.value
                if prev is not None and has_converged(done + epoch, prev, record.value, reference, self.tol, 0.0):
                    converged = True
                    break
        if full_pass and not converged and self.max_iter > 0:
            warnings.warn(
                "The online fit did not converge in max_iter epochs. Increase max_iter or tol.",
                ConvergenceWarning,
            )
        if stats is None:  # partial_fit: the running statistics stand for the data set
            stats = state.running
        attributes = self._params_to_attributes(model, state.params, stats, np.dtype(X.dtype))
        attributes.update(
            converged_=converged,
            n_iter_=epoch if full_pass else state.n_steps,
            lower_bound_=bounds[-1],
            lower_bounds_=bounds,
            elbo_=state.tracker,
            _fitted_structure=self._structure(),
            _convergence=(done + epoch, reference) if full_pass else (0, None),
            _online_state=(_stats_to_host(be, state.running), state.n_steps),
        )
        return attributes

    def fit_predict(self, X: Any, y: Any = None, sample_weight: Any = None) -> np.ndarray:
        """Fit the model and return the most likely component of each sample.

        Equivalent to ``fit(X, sample_weight=sample_weight).predict(X)``.
        """
        return self.fit(X, y, sample_weight=sample_weight).predict(X)

    def _fit(self, be: Backend, X: Any, sample_weight: Any, do_init: bool) -> dict:
        cov = get_covariance(self.covariance_type, self.n_components, X.shape[1])
        executor = get_executor(X, self._chunk_rows(be, X))
        model = self._model(be, cov, executor, X, sample_weight)
        result = fit_loop(
            model,
            executor,
            X,
            sample_weight,
            n_init=self.n_init,
            max_iter=self.max_iter,
            tol=self.tol,
            random_state=check_random_state(self.random_state),
            warm_params=None if do_init else self._attributes_to_params(model),
            progress=getattr(self, "_convergence", (0, None)),
            rtol=ASCENT_RTOL[np.dtype(X.dtype)],
            verbose=self.verbose,
            verbose_interval=self.verbose_interval,
            name=type(self).__name__,
        )
        if not result.converged and self.max_iter > 0:
            warnings.warn(
                "Best performing initialization did not converge. Try different "
                "init parameters, or increase max_iter, tol, or check for "
                "degenerate data.",
                ConvergenceWarning,
            )
        attributes = self._params_to_attributes(model, result.params, result.stats, np.dtype(X.dtype))
        attributes.update(
            converged_=result.converged,
            n_iter_=result.n_iter,
            lower_bound_=result.bound,
            lower_bounds_=result.bounds,
            elbo_=result.tracker,
            _fitted_structure=self._structure(),
            # (iterations run, L_1): a warm start judges convergence over the
            # whole run, so max_iter=1 refitted until converged_ stops where
            # one long fit would.
            _convergence=result.progress,
        )
        return attributes

    # ------------------------------------------------------------ prediction
    def _prediction_pass(self, X: Any, step: Any, broadcast: Any, method: str) -> np.ndarray:
        """Validate X, then map ``step(chunk, None, rows, be, *broadcast(model, params))`` over it.

        ``broadcast`` computes once what every chunk needs from the fitted
        model and its device parameters; ``method`` names the caller in errors.
        """
        check_is_fitted(self)
        ns = check_same_namespace(X, self, method, "means_")
        X = check_data(self, X, reset=False)
        be, X = _on_backend(self.device, X)
        cov = get_covariance(self.covariance_type, self.n_components, X.shape[1])
        model = self._fitted_model(be, cov, X.dtype)
        shared = broadcast(model, self._attributes_to_params(model))
        executor = get_executor(X, self._chunk_rows(be, X))
        out = executor.map_concat(step, be.xp, X, be, *shared)
        # A Dask array in, a lazy Dask array out (as dask-ml); under array-API
        # dispatch, the input's namespace; otherwise NumPy.
        if is_dask_array(out):
            return out
        return be.to_host(out) if ns is None else ns.asarray(out)

    def _log_rho_pass(self, X: Any, what: str, method: str) -> np.ndarray:
        return self._prediction_pass(X, _chunk_log_rho, lambda model, params: (model.e_step_terms(params), what),
                                     method)

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
        return self._log_rho_pass(X, "proba", "predict_proba")

    def predict(self, X: Any) -> np.ndarray:
        """The most likely component of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        return self._log_rho_pass(X, "label", "predict")

    def score_samples(self, X: Any) -> np.ndarray:
        """Log density of each sample under the model, log p(x_n).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self._score_samples(X, "score_samples")

    def _score_samples(self, X: Any, method: str) -> Any:
        """``score_samples`` for ``method`` (the name its errors give)."""
        return self._log_rho_pass(X, "log_norm", method)

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
        return float(np.mean(to_numpy(self._score_samples(X, "score")), dtype=np.float64))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.array_api_support = True  # see _checked_call and _prediction_pass
        return tags

    def _in_fitted_namespace(self, *arrays: np.ndarray) -> tuple:
        """NumPy results (of ``sample``) in the namespace of the fitted
        attributes when the fit ran under array-API dispatch, else unchanged."""
        ns = input_namespace(self.means_)
        return arrays if ns is None else tuple(ns.asarray(a) for a in arrays)

    def _check_sample_count(self, n_samples: Any) -> None:
        check_is_fitted(self)
        check_scalar(n_samples, "n_samples", numbers.Integral)
        if n_samples < 1:
            # scikit-learn's words (its message prints n_components instead).
            raise ValueError(
                f"Invalid value for 'n_samples': {n_samples}. The sampling requires at least one sample."
            )


def _on_backend(device: str, X: Any) -> tuple[Backend, Any]:
    """The backend for X, and X on its device.

    A Dask array stays where it is: its blocks' type (NumPy or CuPy, the
    array's ``_meta``) decides the backend, and must agree with ``device``.
    """
    be = get_backend(device, X)
    if not is_dask_array(X):
        return be, be.asarray(X)
    if (be.name == "gpu") != is_gpu_array(X._meta):
        kind = "CuPy" if is_gpu_array(X._meta) else "NumPy"
        raise ValueError(
            f"device={device!r}, but the blocks of the Dask array X are {kind} arrays. Map them to "
            "the device first (X.map_blocks(cupy.asarray) for the GPU, X.map_blocks(lambda b: b.get()) "
            "for the CPU), or use device='auto'."
        )
    return be, X


def _chunk_log_rho(Xc: Any, weights: Any, rows: slice, be: Backend, terms: EStepTerms, what: str) -> Any:
    """A prediction step: the chunk's responsibilities, labels or log normaliser."""
    split = residual_pieces(be, Xc, terms)
    if split is not None:
        return split.map_concat(_chunk_log_rho, be.xp, Xc, be, terms, what, start=rows.start)
    lr = chunk_log_rho(be.xp, Xc, terms, workspace())[0]  # (K, rows)
    if what == "label":
        return be.xp.argmax(lr, axis=0)
    if what == "log_norm":
        return be.logsumexp(lr, axis=0)
    return normalize_log_rho(be, lr)[0].T


def _stats_to_host(be: Backend, stats: GaussianStats) -> GaussianStats:
    """The running statistics with NumPy arrays (kept as a fitted attribute)."""
    host = {f.name: be.to_host(getattr(stats, f.name)) for f in dataclasses.fields(stats)}
    return GaussianStats(**host)


def _stats_to_device(be: Backend, stats: GaussianStats) -> GaussianStats:
    arrays = ("counts", "first", "second", "log_norm", "entropy", "origin")
    return dataclasses.replace(stats, **{name: be.asarray(getattr(stats, name)) for name in arrays})
