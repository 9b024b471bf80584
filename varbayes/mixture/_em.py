"""Exact EM for a Gaussian mixture: varbayes.GaussianMixture."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from .._backend import Backend, get_backend, to_numpy
from .._validation import check_array_param
from ..vi import Bound
from ._base import BaseMixture, MixtureModel
from ._covariance import Covariance, get_covariance
from ._stats import EStepTerms, GaussianStats, e_step_terms

LOG_2PI = math.log(2.0 * math.pi)


class GaussianMixture(BaseMixture):
    r"""Gaussian mixture fitted by exact expectation-maximisation.

    A drop-in for :class:`sklearn.mixture.GaussianMixture`: the same
    parameters, defaults, fitted attributes and methods, plus ``device``,
    ``chunk_size`` and the ELBO tracker ``elbo_``.

    The model is p(x) = sum_k pi_k N(x | mu_k, Sigma_k).  EM is coordinate
    ascent on the evidence lower bound (Bishop (2006), sec. 9.4)

    .. math::

        \mathcal{L}(q, \theta) = \sum_n \sum_k r_{nk}
            \left[\log \pi_k + \log \mathcal{N}(x_n | \mu_k, \Sigma_k)
            - \log r_{nk}\right] \le \log p(X | \theta).

    The E-step sets r_nk = p(z_n = k | x_n, theta) (eq. 9.23), which closes the
    gap: KL(q || p(Z | X)) = 0 and the bound equals the log-likelihood.  The
    M-step maximises the bound over theta with q fixed (eqs. 9.24-9.26):
    N_k = sum_n r_nk, mu_k = sum_n r_nk x_n / N_k,
    Sigma_k = sum_n r_nk (x_n - mu_k)(x_n - mu_k)^T / N_k + reg_covar I,
    pi_k = N_k / N.  Both half-steps are recorded in ``elbo_`` (steps 'E' and
    'M'), so ``elbo_.plot()`` draws the EM staircase.  With ``reg_covar = 0``
    no record is lower than the one before beyond rounding.  With
    ``reg_covar = c > 0`` the M-step exactly maximises the penalised bound
    L(q, theta) - c/2 sum_k N_k tr(Lambda_k), not L itself, so an M-step may
    lower L by at most c/2 sum_k N_k (tr Lambda_k^old - tr Lambda_k^new); the
    tracker records that allowance with each M-step and warns only beyond it.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components K.
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
        'full': each component has its own covariance matrix; 'tied': all
        share one; 'diag': each has a diagonal one; 'spherical': each has one
        variance.
    tol : float, default=1e-3
        Convergence threshold on the relative change of the bound: from the
        second iteration on, iterations stop when the last gain is at most
        ``tol`` times the gain since the first iteration,
        ``|L_t - L_{t-1}| <= tol |L_t - L_1|``, or the step did not raise the
        bound by more than float64 resolves (a decrease within ``1e-10 |L|``); a
        decrease beyond rounding never converges.
        Relative to the progress rather than to ``|L_t|``, so that neither the
        data's scale nor the bound's constants change it; measured from L_1,
        not L_0, so that a poor initialisation's first jump does not make
        every later gain look small.  ``tol=0`` runs ``max_iter`` iterations.
    reg_covar : float, default=1e-6
        Added to the diagonal of every covariance, keeping them positive
        definite.
    max_iter : int, default=100
        Number of EM iterations (M-steps) per initialisation; 0 keeps the
        initial parameters (as scikit-learn, e.g. to inspect an
        initialisation).
    n_init : int, default=1
        Number of initialisations; the best bound is kept.
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
        How the initial responsibilities are drawn (as scikit-learn, with the
        same random draws for the same ``random_state``).
    weights_init : array-like of shape (n_components,), default=None
        Initial weights; from ``init_params`` when None.
    means_init : array-like of shape (n_components, n_features), default=None
        Initial means; from ``init_params`` when None.
    precisions_init : array-like, default=None
        Initial precisions (inverse covariances) in the shape of
        ``precisions_``; from ``init_params`` when None.  When all three
        initial values are given no initial responsibilities are computed.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and :meth:`sample`.
    warm_start : bool, default=False
        If True, each fit after the first continues from the current
        parameters (and ``n_init`` is ignored), with the same
        ``n_components`` and ``covariance_type`` (a change is a ValueError
        that names it).  Convergence is judged over the whole run, so
        ``max_iter=1`` refitted until ``converged_`` stops where one long fit
        would.
    verbose : int, default=0
        As scikit-learn: 1 prints each initialisation, its outcome and the
        iteration number every ``verbose_interval`` iterations (the epochs
        of an online fit); 2 adds the time and the change of the bound.
        Where stderr is a terminal, a progress bar with an ETA (an upper
        bound: the fit may converge sooner) runs beneath, over all
        ``n_init`` starts.
    verbose_interval : int, default=10
        Iterations between messages.
    device : {'auto', 'cpu', 'gpu'}, default='auto'
        Where to compute: 'auto' uses the GPU for CuPy input (or a CUDA
        tensor, through DLPack) and the CPU otherwise.  Fitted attributes
        are NumPy arrays on the host whatever the device, unless
        scikit-learn's array-API dispatch is on (then they are in X's
        namespace and on its device; see the GPU page).
    chunk_size : int, default=None
        Rows per chunk of the passes over X; by default chosen from a working
        memory budget (about 2 MiB on CPU, 1 GiB on GPU), so the extra memory
        of the EM iterations does not grow with n_samples, and a fit on an
        ``np.memmap`` never loads X whole.  The initialisation may: 'kmeans'
        and 'k-means++' run scikit-learn's, which copy X (about twice the
        size of X at the peak of KMeans), 'random_from_data' draws
        scikit-learn's permutation of the rows (n integers), 'random' needs
        nothing beyond a chunk; an online fit initialises from its first
        minibatch.

    learning_method : {'batch', 'online'}, default='batch'
        'batch' runs the exact coordinate ascent over all of X per iteration;
        'online' runs minibatch steps (see :meth:`partial_fit`): each
        minibatch's statistics, scaled to the data set, are averaged into
        running statistics with weight rho_t, and the global parameters are
        updated from them.  ``max_iter`` then counts epochs (passes over X),
        each ended by one full-data pass for the bound (``elbo_`` step
        'epoch'; the minibatches' estimates are steps 'minibatch'), which
        judges convergence; ``n_init`` is not used.  As scikit-learn's
        ``LatentDirichletAllocation``.
    learning_offset : float, default=10.0
        tau_0 >= 0 of rho_t = (tau_0 + t)^(-kappa): a larger value damps the
        early steps, whose minibatch estimates are the noisiest (scikit-learn
        LDA's default).  0 makes the first step replace the initial statistics.
    learning_decay : float, default=0.6
        kappa in (0.5, 1]: the range where the steps satisfy Robbins-Monro
        (sum rho = inf, sum rho^2 < inf).  A smaller kappa forgets the
        initialisation faster (sum rho over T steps grows as T^(1 - kappa))
        and leaves more noise (the average remembers about 1/rho_T
        minibatches).  0.6 rather than scikit-learn LDA's 0.7: over one
        epoch of 500-2000 minibatches of 1024 rows it ended 3-6 times closer
        to the batch optimum in every case measured (see the user guide's
        stochastic page), and 0.55 was noisier.
    batch_size : int, default=1024
        Rows per minibatch of the online steps; at least ``n_components`` (the
        first minibatch initialises every component).  1024 rows give each of
        tens of components enough rows per step for a useful estimate.
    total_samples : float, default=1e6
        The size of the data set a stream of :meth:`partial_fit` calls stands
        for: each minibatch's statistics are scaled to it (``fit`` uses the
        total sample weight of X instead).

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray
        (K, d, d) full, (d, d) tied, (K, d) diag, (K,) spherical.
    precisions_ : ndarray
        Inverse covariances, same shape.
    precisions_cholesky_ : ndarray
        P with P P^T = ``precisions_``, same shape.
    converged_ : bool
    n_iter_ : int
        M-steps of the best initialisation.
    lower_bound_ : float
        Per-sample log-likelihood of the returned parameters: equal to
        ``score(X)`` on the training data (scikit-learn's lags one M-step).
    lower_bounds_ : list of float
        ``lower_bound_`` after each iteration.
    elbo_ : ELBOTracker
        The bound after every E- and M-step of the best initialisation.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Only when X has string column names.

    Notes
    -----
    The E-step and the statistics N_k, sum r x and sum r x x^T are computed
    over row chunks and added up (:mod:`varbayes.mixture._stats`).  Float32
    input stays float32 in every pass over the data; the K x d x d statistics
    are summed across chunks in float64.

    Examples
    --------
    >>> import numpy as np
    >>> from varbayes import GaussianMixture
    >>> X = np.array([[1, 2], [1, 4], [1, 0], [10, 2], [10, 4], [10, 0]])
    >>> gm = GaussianMixture(n_components=2, random_state=0).fit(X)
    >>> gm.means_[np.argsort(gm.means_[:, 0])]
    array([[ 1.,  2.],
           [10.,  2.]])
    >>> bool(gm.elbo_.is_monotone())
    True
    """

    def __init__(
        self,
        n_components: int = 1,
        *,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weights_init: Any = None,
        means_init: Any = None,
        precisions_init: Any = None,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        device: str = "auto",
        chunk_size: int | None = None,
        learning_method: str = "batch",
        learning_offset: float = 10.0,
        learning_decay: float = 0.6,
        batch_size: int = 1024,
        total_samples: float = 1e6,
    ) -> None:
        super().__init__(
            n_components=n_components,
            tol=tol,
            reg_covar=reg_covar,
            max_iter=max_iter,
            n_init=n_init,
            init_params=init_params,
            random_state=random_state,
            warm_start=warm_start,
            verbose=verbose,
            verbose_interval=verbose_interval,
            device=device,
            chunk_size=chunk_size,
            learning_method=learning_method,
            learning_offset=learning_offset,
            learning_decay=learning_decay,
            batch_size=batch_size,
            total_samples=total_samples,
        )
        self.covariance_type = covariance_type
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init

    # ------------------------------------------------------------ validation
    def _check_model_parameters(self, n_features: int, dtype: np.dtype) -> None:
        # Messages as scikit-learn's (which names the arrays 'weights', 'means'
        # and "'<type> precision'"), naming our parameter too.
        K = self.n_components
        if self.weights_init is not None:
            w = check_array_param(self.weights_init, "weights_init", (K,), dtype, label="weights")
            if np.any(w < 0) or np.any(w > 1):
                raise ValueError(
                    f"The parameter 'weights' should be in the range [0, 1], but got "
                    f"min value {w.min():.5f}, max value {w.max():.5f} (check weights_init)."
                )
            if not np.allclose(np.sum(w, dtype=np.float64), 1.0, rtol=1e-6, atol=0):
                raise ValueError(
                    f"The parameter 'weights' should be normalized, but got "
                    f"sum(weights) = {w.sum():.5f} (check weights_init)."
                )
        if self.means_init is not None:
            check_array_param(self.means_init, "means_init", (K, n_features), dtype, label="means")
        if self.precisions_init is not None:
            cov = get_covariance(self.covariance_type, K, n_features)
            label = f"{self.covariance_type} precision"
            prec = check_array_param(self.precisions_init, "precisions_init", cov.shape, np.float64, label=label)
            cov.check_precisions(get_backend("cpu"), prec, "precisions_init")

    # ------------------------------------------------------------ the model
    def _model(self, be: Backend, cov: Covariance, executor: Any, X: Any, sample_weight: Any) -> "EM":
        return EM(be, cov, self.reg_covar, self.init_params, X.dtype, self.weights_init, self.means_init,
                  self.precisions_init)

    def _fitted_model(self, be: Backend, cov: Covariance, dtype: Any) -> "EM":
        return EM(be, cov, self.reg_covar, self.init_params, dtype)

    # ------------------------------------------------------------ attributes
    def _params_to_attributes(self, model: "EM", params: dict, stats: GaussianStats, dtype: np.dtype) -> dict:
        be, cov = model.be, model.cov
        host = {k: np.asarray(be.to_host(v), dtype=dtype) for k, v in params.items()}
        return {
            "weights_": host["weights"],
            "means_": host["means"],
            "covariances_": host["covariances"],
            "precisions_cholesky_": host["prec_chol"],
            "precisions_": np.asarray(be.to_host(cov.precisions(be.xp, params["prec_chol"])), dtype=dtype),
        }

    def _attributes_to_params(self, model: "EM") -> dict:
        be = model.be
        f64 = be.xp.float64
        return {
            "weights": be.asarray(self.weights_, dtype=f64),
            "means": be.asarray(self.means_, dtype=f64),
            "covariances": be.asarray(self.covariances_, dtype=f64),
            "prec_chol": be.asarray(self.precisions_cholesky_, dtype=f64),
        }

    # ------------------------------------------------------------ extras
    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw samples from the fitted mixture.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            The component each sample came from.  Both in the fit's array
            namespace when it ran under array-API dispatch.
        """
        self._check_sample_count(n_samples)
        rng = check_random_state(self.random_state)
        means = to_numpy(self.means_)
        K, d = means.shape
        cov = get_covariance(self.covariance_type, K, d)
        counts = rng.multinomial(n_samples, np.asarray(to_numpy(self.weights_), dtype=np.float64))
        chol = np.linalg.cholesky(cov.to_full(np.asarray(to_numpy(self.covariances_), dtype=np.float64)))
        X = np.concatenate(
            [means[k] + rng.standard_normal((c, d)) @ chol[k].T for k, c in enumerate(counts)]
        ).astype(means.dtype, copy=False)
        y = np.repeat(np.arange(K), counts)
        return self._in_fitted_namespace(X, y)

    def _n_parameters(self) -> int:
        K, d = self.means_.shape
        cov = get_covariance(self.covariance_type, K, d)
        return int(cov.n_parameters() + K * d + K - 1)

    def bic(self, X: Any) -> float:
        """Bayesian information criterion on X: -2 log L + p log n (lower is better)."""
        n = np.shape(X)[0]
        return -2 * self.score(X) * n + self._n_parameters() * math.log(n)

    def aic(self, X: Any) -> float:
        """Akaike information criterion on X: -2 log L + 2 p (lower is better)."""
        return -2 * self.score(X) * np.shape(X)[0] + 2 * self._n_parameters()


class EM(MixtureModel):
    """Exact EM for the variational core: q over the parameters is a point
    mass, the M-step its one global update (Bishop (2006), sec. 9.2).

    The bound after the E-step is the log-likelihood (the per-row log
    normalisers); after the M-step, E_q[log p(X, Z | theta)] + H[q] with q(Z)
    held fixed, computed from the statistics (with a bound on their
    rounding, see ``MixtureModel.trace_error``).
    """

    record_each_update = True

    def __init__(self, be: Backend, cov: Covariance, reg_covar: float, init_params: str, dtype: Any,
                 weights_init: Any = None, means_init: Any = None, precisions_init: Any = None) -> None:
        super().__init__(be, cov, reg_covar, init_params, dtype)
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init

    def needs_initial_resp(self) -> bool:
        return self.weights_init is None or self.means_init is None or self.precisions_init is None

    def initial_params(self, stats: GaussianStats | None) -> dict:
        be, cov = self.be, self.cov
        xp = be.xp
        params: dict = {}
        if stats is not None:
            params = self.estimate(stats)
            params["weights"] = self.counts(stats) / stats.n_samples
        if self.weights_init is not None:
            params["weights"] = be.asarray(self.weights_init, dtype=xp.float64)
        if self.means_init is not None:
            params["means"] = be.asarray(self.means_init, dtype=xp.float64)
        if self.precisions_init is not None:
            precisions = be.asarray(self.precisions_init, dtype=xp.float64)
            params["prec_chol"] = cov.cholesky_of_precision(be, precisions)
            # Consistent with the given precisions (what max_iter=0 returns).
            params["covariances"] = cov.invert(xp, precisions)
        else:
            params["prec_chol"] = cov.precision_cholesky(be, params["covariances"])
        return params

    def estimate(self, stats: GaussianStats) -> dict:
        """Maximum-likelihood parameters given the statistics (Bishop eqs. 9.24-9.26)."""
        xp, cov = self.be.xp, self.cov
        nk = self.counts(stats)
        centers = stats.mean(nk)
        scatter = stats.scatter(xp, cov, centers)
        return {
            "weights": nk / nk.sum(),
            "means": centers,
            "covariances": cov.add_diagonal(xp, cov.normalize(xp, scatter, nk), self.reg_covar),
        }

    def global_updates(self) -> list:
        return [("M", self.m_step)]

    def m_step(self, params: dict, stats: GaussianStats) -> tuple[dict, float]:
        """The M-step; reg_covar permits the bound to fall (see ``reg_allowance``)."""
        new = self.estimate(stats)
        new["prec_chol"] = self.cov.precision_cholesky(self.be, new["covariances"])
        return new, self.reg_allowance(stats, params["prec_chol"], new["prec_chol"])

    def bound(self, params: dict, stats: GaussianStats, step: str) -> Bound:
        be, cov = self.be, self.cov
        xp = be.xp
        n = stats.n_samples
        entropy = be.scalar(stats.entropy) / n
        if step == "E":
            value = be.scalar(stats.log_norm) / n
            return Bound(value, {"expected_complete_loglik": value - entropy, "entropy": entropy})
        # E_q[log p(X, Z | theta)] + H[q] with q(Z) held fixed.
        log_det = cov.log_det(xp, params["prec_chol"])
        expected = (
            xp.sum(stats.counts * (xp.log(params["weights"]) + log_det))
            - 0.5 * n * cov.d * LOG_2PI
            - 0.5 * cov.trace_product(xp, params["prec_chol"], stats.scatter(xp, cov, params["means"]))
        )
        expected = be.scalar(expected) / n
        return Bound(expected + entropy, {"expected_complete_loglik": expected, "entropy": entropy},
                     error=self.trace_error(stats, params["prec_chol"]))

    def e_step_terms(self, params: dict) -> EStepTerms:
        be, cov = self.be, self.cov
        xp = be.xp
        with np.errstate(divide="ignore"):  # a weights_init of 0 is allowed: log 0 = -inf
            log_weights = xp.log(params["weights"])
        log_const = log_weights + cov.log_det(xp, params["prec_chol"]) - 0.5 * cov.d * LOG_2PI
        return e_step_terms(be, cov, params["means"], params["prec_chol"], log_const, self.dtype)
