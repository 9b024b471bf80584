"""Variational Bayesian linear regression, with one shared or per-coefficient (ARD) prior precision.

The model (Drugowitsch (2013), arXiv:1310.5438, sec. 2; Bishop (2006), sec. 10.3)::

    y_n | w, tau        ~ N(w^T x_n, 1 / tau)                  (x_n centred when fit_intercept)
    w | tau, lambda     ~ N(0, (tau diag(lambda))^{-1})
    tau                 ~ Gam(alpha_1, alpha_2)                 (noise precision)
    lambda_j            ~ Gam(lambda_1, lambda_2)               (one per coefficient with ard=True,
                                                                 else one shared by all)

fitted by coordinate ascent on the ELBO over q(w, tau) q(lambda).  q(w, tau)
is the exact conditional posterior for the current E[lambda], a
Normal-Gamma::

    q(w, tau) = N(w | m, V / tau) Gam(tau | a, b),
        V^{-1} = diag(E[lambda]) + X^T S X,  m = V X^T S y,
        a = alpha_1 + N / 2,  b = alpha_2 + (y^T S y - m^T X^T S y) / 2

(S the sample weights, N their sum), and q(lambda) its Gamma update::

    lambda_j: shape lambda_1 + 1/2, rate lambda_2 + E[tau w_j^2] / 2   (ARD)
    lambda:   shape lambda_1 + d/2, rate lambda_2 + sum_j E[tau w_j^2] / 2

with E[tau w_j^2] = (a / b) m_j^2 + V_jj.  With ARD, a third update prunes:
among the coefficients whose prior precision E[tau] E[lambda_j] exceeds a
threshold (scikit-learn's ``threshold_lambda``), it removes coefficient j
(w_j = 0 and no lambda_j) when the bound of the model without it, at q
restricted to the others, is at least the bound with it (variational model
selection, Bishop (2006), sec. 10.1.4; the change is in closed form, see
:meth:`VBLinearModel.removal_gains`), so the bound never decreases.  Keeping w and tau together (the
weights' prior scaled by the noise precision, as Drugowitsch) instead of a
fully factorised q(w) q(tau) q(lambda) makes q(w, tau) exact given lambda,
the bound tighter, and the posterior predictive an exact Student-t::

    y* | x* ~ St(m^T x*, (b / a) (1 + x*^T V x*), 2a)

The intercept has a flat prior: the data are centred at their weighted
means and the intercept is mean(y) - mean(x)^T m (as scikit-learn's
BayesianRidge and ARDRegression); the bound is that of the centred data.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._backend import get_backend, to_numpy
from .._execution import get_executor, is_dask_array
from .._validation import (
    FLOAT_DTYPES,
    check_data,
    validate_numpy_data,
    check_magnitude,
    check_option,
    check_sample_weight,
    check_scalar,
    check_verbose,
    checking_parameters_of,
    unchanged_on_error,
)
from ..expfam import Gamma
from ..vi import Bound, ConjugateModel, fit_loop
from ._gaussian import LOG_2PI, gaussian_entropy, gaussian_from_precision
from ._stats import RegressionStats, _sums_step, regression_stats

__all__ = ["VBLinearRegression"]

#: Rows per chunk of the passes over the data.
CHUNK_ROWS = 4096


def check_vb_parameters(est: Any, priors: tuple) -> None:
    """The parameters the VB linear models share: iterations, tolerance, the
    Gamma priors' shapes and rates (named in ``priors``), the flags, verbosity."""
    check_scalar(est.max_iter, "max_iter", numbers.Integral, low=0)
    check_scalar(est.tol, "tol", numbers.Real, low=0.0)
    for name in priors:
        check_scalar(getattr(est, name), name, numbers.Real, low=0.0, include_low=False)
    for name in ("ard", "fit_intercept", "elbo_per_update"):
        check_option(getattr(est, name), name, (False, True))
    check_verbose(est.verbose)


class _Summary:
    """What the updates need from the data: N, X^T S X, X^T S y, y^T S y (centred), and the centre."""

    def __init__(self, stats: RegressionStats, center: np.ndarray) -> None:
        self.n_samples = stats.n_samples
        self.XtX = stats.second[:-1, :-1]
        self.Xty = stats.second[:-1, -1]
        self.yty = float(stats.second[-1, -1])
        self.center = center


class VBLinearModel(ConjugateModel):
    """The CAVI model of :class:`VBLinearRegression` for the variational core.

    Parameters
    ----------
    n_features : int
    ard : bool
    alpha_1, alpha_2 : float
        Shape and rate of the noise precision's Gamma prior.
    lambda_1, lambda_2 : float
        Shape and rate of the weight precisions' Gamma prior.
    centered : bool
        Whether to centre the data (fit an intercept).
    record_each_update : bool
    threshold_lambda : float
        With ``ard``, the coefficients whose prior precision E[tau] E[lambda_j]
        exceeds it are candidates for removal (inf: none).
    """

    local_name = "data"

    def __init__(self, n_features: int, ard: bool, alpha_1: float, alpha_2: float, lambda_1: float, lambda_2: float,
                 centered: bool, record_each_update: bool, threshold_lambda: float = math.inf) -> None:
        self.d = int(n_features)
        self.ard = bool(ard)
        self.a0, self.b0, self.c0, self.d0 = float(alpha_1), float(alpha_2), float(lambda_1), float(lambda_2)
        self.centered = bool(centered)
        self.record_each_update = bool(record_each_update)
        self.threshold = float(threshold_lambda)
        self.prune = self.ard and self.threshold < math.inf
        self.gamma = Gamma(get_backend("cpu"))
        # The priors' shapes and rates, q(lambda)'s then q(tau)'s, as the bound passes them to Gamma.kl.
        k = self.d if self.ard else 1
        self._priors = (np.append(np.full(k, self.c0), self.a0), np.append(np.full(k, self.d0), self.b0))

    # -- the core's hooks ---------------------------------------------------------
    def summarize(self, executor: Any, Z: Any, sample_weight: Any) -> _Summary:
        return _Summary(*regression_stats(executor, Z, sample_weight, self.centered))

    def initialize(self, executor: Any, X: Any, sample_weight: Any, random_state: np.random.RandomState) -> dict:
        """q = the prior: m = 0, V = diag(1 / E[lambda]), a, b and q(lambda) at their prior values."""
        k = self.d if self.ard else 1
        c, rate = np.full(k, self.c0), np.full(k, self.d0)
        lam = np.broadcast_to(c / rate, self.d).copy()
        return {"m": np.zeros(self.d), "V": np.diag(1.0 / lam), "a": self.a0, "b": self.b0, "c": c, "rate": rate,
                "keep": np.ones(self.d, dtype=bool), "lam_v": lam}

    def local_params(self, params: dict) -> tuple:
        return ()

    local_step = staticmethod(_sums_step)  # the statistics' step (run once, by summarize)

    def global_updates(self) -> list:
        updates = [("q(w,tau)", self.update_coef), ("q(lambda)", self.update_lambda)]
        return updates + [("prune", self.update_prune)] if self.prune else updates

    # -- the coordinate updates -------------------------------------------------------
    def expected_lambda(self, params: dict) -> np.ndarray:
        """E[lambda_j], one per coefficient."""
        lam = params["c"] / params["rate"]
        return lam if lam.shape[0] == self.d else np.full(self.d, lam[0])  # ARD, or the one shared precision

    def update_coef(self, params: dict, s: _Summary) -> tuple[dict, float]:
        """q(w, tau): the Normal-Gamma conditional posterior given E[lambda] (Drugowitsch eqs. 8-11).

        Over the kept coefficients only: a pruned one is 0, with zero rows
        and columns in V.
        """
        keep, lam = params["keep"], self.expected_lambda(params)
        if keep.all():
            m, V = gaussian_from_precision(s.XtX + np.diag(lam), s.Xty)
        else:
            K = np.flatnonzero(keep)
            m, V = np.zeros(self.d), np.zeros((self.d, self.d))
            if K.size:
                m[K], V[np.ix_(K, K)] = gaussian_from_precision(s.XtX[np.ix_(K, K)] + np.diag(lam[K]), s.Xty[K])
        # y^T S y - m^T V^{-1} m = ||y - X m||^2_S + m^T diag(E lambda) m >= 0.
        residual = max(s.yty - float(m @ s.Xty), 0.0)
        return {**params, "m": m, "V": V, "a": self.a0 + 0.5 * s.n_samples, "b": self.b0 + 0.5 * residual,
                "lam_v": lam.copy()}, 0.0

    def update_lambda(self, params: dict, s: _Summary) -> tuple[dict, float]:
        """q(lambda): the Gamma update from E[tau w_j^2] (Drugowitsch eqs. 12-13), kept coefficients only."""
        second, keep = self._tau_w2(params), params["keep"]
        if self.ard:
            c, rate = np.full(self.d, self.c0 + 0.5), self.d0 + 0.5 * second
        else:
            c = np.array([self.c0 + 0.5 * int(keep.sum())])
            rate = np.array([self.d0 + 0.5 * second[keep].sum()])
        return {**params, "c": c, "rate": rate}, 0.0

    def removal_gains(self, params: dict, s: _Summary) -> np.ndarray:
        """The change of the (total, not per-sample) bound from removing each
        kept coefficient j alone, q restricted to the others (ARD).

        With A = X^T S X, h = X^T S y, P = V^{-1} = A + diag(lambda_v) on the
        kept set, t_j = E[tau w_j^2] and KL_j = KL(q(lambda_j) || p(lambda_j)),
        removing j changes E[tau ||y - Xw||^2] by
        Delta_j = E[tau] (2 m_j h_j - 2 m_j (A m)_j + A_jj m_j^2) - 2 (A V)_jj + A_jj V_jj,
        log |V| by log P_jj (Schur complement), and drops j's prior, entropy
        and KL terms:  gain_j = -Delta_j / 2 + (log P_jj - E[log lambda_j] + E[lambda_j] t_j - 1) / 2 + KL_j.
        Removed coefficients get -inf.  Needs V = (A + diag(lambda_v))^{-1}
        on the kept set, as :meth:`update_coef` leaves it (not after
        :meth:`without` or :meth:`initialize`).
        """
        g, keep = self.gamma, params["keep"]
        m, V, c, rate = params["m"], params["V"], params["c"], params["rate"]
        A, h = s.XtX, s.Xty
        e_tau = params["a"] / params["b"]
        A_diag = np.diag(A)
        delta = e_tau * (2.0 * m * h - 2.0 * m * (A @ m) + A_diag * m**2) - 2.0 * np.einsum("jb,bj->j", A, V) + A_diag * np.diag(V)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_p = np.log(A_diag + params["lam_v"])
        gains = (-0.5 * delta + 0.5 * (log_p - g.expected_log(c, rate) + c / rate * self._tau_w2(params) - 1.0)
                 + g.kl(c, rate, self.c0, self.d0))
        return np.where(keep, gains, -np.inf)

    def update_prune(self, params: dict, s: _Summary) -> tuple[dict, float]:
        """Remove candidates whose removal raises the bound (ARD).

        The candidates are the kept coefficients whose prior precision
        E[tau] E[lambda_j] exceeds the threshold and whose removal alone
        raises the bound.  All of them go if removing them together raises
        it too (checked with :meth:`bound`); otherwise the one that raises it
        most.  q(w, tau) is restricted to the rest (the marginal of the
        Normal-Gamma): the bound never decreases.
        """
        precision = params["a"] / params["b"] * self.expected_lambda(params)
        above = params["keep"] & (precision > self.threshold)
        if not above.any():
            return params, 0.0
        gains = self.removal_gains(params, s)
        candidates = np.flatnonzero(above & (gains > 0.0))
        if not candidates.size:
            return params, 0.0
        before = self.bound(params, s, "prune").value
        together = self.without(params, candidates)
        if candidates.size > 1 and self.bound(together, s, "prune").value >= before:
            return together, 0.0
        alone = self.without(params, candidates[[int(np.argmax(gains[candidates]))]])
        return (alone, 0.0) if self.bound(alone, s, "prune").value >= before else (params, 0.0)

    @staticmethod
    def without(params: dict, drop: np.ndarray) -> dict:
        """``params`` with the coefficients ``drop`` removed: q(w, tau) restricted to the
        others (their marginal), w_j = 0 with zero rows and columns of V."""
        keep, m, V = params["keep"].copy(), params["m"].copy(), params["V"].copy()
        keep[drop] = False
        m[drop], V[drop, :], V[:, drop] = 0.0, 0.0, 0.0
        return {**params, "keep": keep, "m": m, "V": V}

    @staticmethod
    def _tau_w2(params: dict) -> np.ndarray:
        """E[tau w_j^2] = (a / b) m_j^2 + V_jj."""
        return params["a"] / params["b"] * params["m"] ** 2 + params["V"].diagonal()

    # -- the bound ----------------------------------------------------------------------
    def bound(self, params: dict, s: _Summary, step: str) -> Bound:
        """The complete ELBO per unit of weight, every constant included.

        E_q[log p(y | w, tau)] + E_q[log p(w, tau | lambda)] + E_q[log p(lambda)]
        + H[q(w, tau)] + H[q(lambda)], with 'kl_coef' = KL(q(w, tau) || p(w, tau | lambda))
        averaged over q(lambda), and 'kl_lambda' = KL(q(lambda) || p(lambda)).
        """
        g, keep = self.gamma, params["keep"]
        d = int(keep.sum())  # the kept coefficients: a pruned one is not in the model
        every = d == self.d
        m, V, a, b, c, rate = params["m"], params["V"], params["a"], params["b"], params["c"], params["rate"]
        # One call of each Gamma function for q(lambda) and q(tau) together (small arrays: overhead).
        shapes, rates = np.concatenate((c, (a,))), np.concatenate((rate, (b,)))
        e_log = g.expected_log(shapes, rates)
        kls = g.kl(shapes, rates, *self._priors)
        e_tau, e_log_tau = a / b, float(e_log[-1])
        # E[tau (y - Xw)^T S (y - Xw)] = E[tau] ||y - Xm||^2_S + tr(X^T S X V)
        fit = e_tau * (s.yty - 2.0 * m @ s.Xty + m @ s.XtX @ m) + float(np.sum(s.XtX * V))
        loglik = 0.5 * s.n_samples * (e_log_tau - LOG_2PI) - 0.5 * fit
        tau_w2 = self._tau_w2(params)
        if self.ard:
            e_lam, e_log_lam, kl = c / rate, e_log[:-1], kls[:-1]
            if not every:
                e_lam, e_log_lam, kl, tau_w2 = e_lam[keep], e_log_lam[keep], kl[keep], tau_w2[keep]
            sum_e_log_lam, weighted, kl_lambda = float(e_log_lam.sum()), float(e_lam @ tau_w2), float(kl.sum())
        else:
            sum_e_log_lam = d * float(e_log[0])
            weighted = float(c[0] / rate[0]) * float(tau_w2[keep].sum())
            kl_lambda = float(kls[0])
        # E log N(w | 0, (tau Lambda)^{-1}) + H[q(w | tau)] (whose covariance is V / tau)
        prior_w = 0.5 * d * (e_log_tau - LOG_2PI) + 0.5 * sum_e_log_lam - 0.5 * weighted
        V_kept = V if every else V[np.ix_(keep, keep)]
        entropy_w = (gaussian_entropy(V_kept) if d else 0.0) - 0.5 * d * e_log_tau
        # E log Gam(tau | a0, b0) + H[q(tau)] = -KL(q(tau) || p(tau)), in its stable form.
        kl_coef = -(prior_w + entropy_w) + float(kls[-1])
        value = (loglik - kl_coef - kl_lambda) / s.n_samples
        terms = {"expected_loglik": loglik / s.n_samples, "kl_coef": kl_coef / s.n_samples,
                 "kl_lambda": kl_lambda / s.n_samples}
        return Bound(value, terms)


def _log(a: Any) -> Any:
    return a.map_blocks(np.log) if is_dask_array(a) else np.log(a)


def _log1p(a: Any) -> Any:
    return a.map_blocks(np.log1p) if is_dask_array(a) else np.log1p(a)


def dask_xy(est: Any, X: Any, y: Any) -> tuple[Any, Any]:
    """X validated and persisted on the cluster, and y as a 1-D Dask array
    chunked like X's rows (both models' Dask fits)."""
    import dask.array as da

    if not is_dask_array(X):
        raise ValueError("y is a Dask array but X is not: pass both as Dask arrays, or neither.")
    X = check_data(est, X, reset=True, persist=True)
    y = y if is_dask_array(y) else da.from_array(np.asarray(y), chunks=(X.chunks[0],))
    if y.ndim != 1 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y must be 1-D with one value per row of X ({X.shape[0]}), got shape {y.shape}.")
    return X, y.rechunk((X.chunks[0],))


def _dask_rows(est: Any, X: Any, y: Any) -> Any:
    """Rows (x, y) as one Dask array chunked like X's rows, X and y validated on the cluster."""
    import dask.array as da

    from .._execution import compute

    X, y = dask_xy(est, X, y)
    if y.dtype.kind not in "fiub":
        raise ValueError(f"y must hold real numbers, got dtype {y.dtype}.")
    y = y.astype(np.float64)
    if not bool(compute(da.isfinite(y).all())[0]):
        raise ValueError("Input y contains NaN or infinity.")
    return da.concatenate([X.astype(np.float64), y[:, None]], axis=1).rechunk({1: -1})


class VBLinearRegression(RegressorMixin, BaseEstimator):
    """Bayesian linear regression by variational Bayes, optionally with ARD.

    y = Xw + b + noise, Gaussian noise with a Gamma prior on its precision,
    and a Gaussian prior on w whose precision has a Gamma prior, one shared
    by all coefficients or (``ard=True``) one per coefficient, which prunes
    the coefficients that the data do not support (automatic relevance
    determination).  Unlike scikit-learn's ``BayesianRidge`` and
    ``ARDRegression`` (evidence approximation: point estimates of the
    precisions), every precision gets a posterior, and the fit maximises a
    true lower bound on the log evidence, recorded in ``elbo_``.

    **Model and inference** (Drugowitsch (2013), arXiv:1310.5438; Bishop
    (2006), sec. 10.3): coordinate ascent on q(w, tau) q(lambda), where
    q(w, tau) = N(w | m, V / tau) Gam(tau | a, b) is the exact posterior of
    the weights and the noise precision given E[lambda] (Normal-Gamma), and
    q(lambda) a Gamma per coefficient (or one).  Each update is the exact
    maximiser of the ELBO in its factor, so the bound never decreases.  The
    predictive of a new y is the Student-t
    St(m^T x, (b / a)(1 + x^T V x), 2a).  The intercept has a flat prior
    (the data are centred, as scikit-learn's).  The data are summarised in
    one pass (two with an intercept: the means, then the moments about
    them, in float64) into X^T X, X^T y and y^T y; the iterations cost
    O(d^3) each, independent of n.

    Parameters
    ----------
    max_iter : int, default=300
        Maximum number of coordinate-ascent sweeps.
    tol : float, default=1e-3
        Convergence: the last sweep's gain of the bound is at most ``tol``
        times the gain since the first sweep (the mixtures' rule).
    alpha_1, alpha_2 : float, default=1e-6
        Shape and rate of the Gamma prior on the noise precision (scikit-learn's
        names and defaults).
    lambda_1, lambda_2 : float, default=1e-6
        Shape and rate of the Gamma prior on the weight precisions.
    ard : bool, default=False
        One precision per coefficient (ARD) instead of one shared.
    threshold_lambda : float, default=1e4
        With ``ard=True``, prune: a coefficient whose prior precision
        E[tau] E[lambda_j] (scikit-learn's lambda) exceeds it is removed
        (w_j = 0 exactly, no lambda_j) if the bound of the model without it
        is at least the bound with it (variational model selection between
        the two models, Bishop (2006), sec. 10.1.4): a third coordinate
        update of each sweep, which never lowers the bound.  Mean-field ARD
        alone leaves each irrelevant coefficient a finite precision and a
        small non-zero mean, noise in the predictions; scikit-learn's
        ``ARDRegression`` prunes by the same threshold (same name and
        default) without the check.  ``np.inf`` never prunes; 0 lets the
        bound alone decide (greedily), which depends on the prior on lambda:
        the default vague Gam(1e-6, 1e-6) charges each kept coefficient about
        12 nats of KL, so a lone column with a t-statistic below about 5 goes
        (Lindley's paradox).  Ignored without ARD.
    fit_intercept : bool, default=True
    elbo_per_update : bool, default=False
        Record the bound after each coordinate update ('q(w,tau)',
        'q(lambda)' and, with ARD pruning, 'prune'), not only once per sweep.
    verbose : int, default=0
        Print each sweep's progress (as :class:`GaussianMixture`), with a
        progress bar where stderr is a terminal.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        The posterior mean m of w.
    intercept_ : float
    sigma_ : ndarray of shape (n_features, n_features)
        The posterior covariance of w, b / (a - 1) V (its marginal is a
        multivariate t; infinite while a <= 1).
    alpha_ : float
        E[tau], the posterior mean of the noise precision.
    lambda_ : float or ndarray of shape (n_features,)
        E[lambda], the posterior mean of the weight precision(s) (an array
        with ``ard=True``; ``inf`` for a pruned coefficient).
    coef_scale_ : ndarray of shape (n_features, n_features)
        V, with q(w | tau) = N(m, V / tau).
    noise_shape_, noise_rate_ : float
        a and b of q(tau) = Gam(a, b).
    lambda_shape_, lambda_rate_ : ndarray
        The shapes and rates of q(lambda) (one entry without ARD; a pruned
        coefficient's are its prior's shape + 1/2 and rate, outside the model).
    X_offset_ : ndarray of shape (n_features,)
        The weighted mean of X (0 without an intercept).
    lower_bound_ : float
        The final ELBO per unit of sample weight.
    elbo_ : ELBOTracker
    n_iter_ : int
    converged_ : bool
    n_features_in_ : int
    feature_names_in_ : ndarray
        Only when X has string column names.

    Examples
    --------
    >>> import numpy as np
    >>> from varbayes import VBLinearRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 5))
    >>> y = X @ [1.0, -2.0, 0.0, 0.0, 0.5] + 0.1 * rng.normal(size=200)
    >>> reg = VBLinearRegression(ard=True).fit(X, y)
    >>> np.round(reg.coef_, 1)
    array([ 1. , -2. ,  0. ,  0. ,  0.5])
    """

    def __init__(
        self,
        max_iter: int = 300,
        tol: float = 1e-3,
        alpha_1: float = 1e-6,
        alpha_2: float = 1e-6,
        lambda_1: float = 1e-6,
        lambda_2: float = 1e-6,
        ard: bool = False,
        threshold_lambda: float = 1e4,
        fit_intercept: bool = True,
        elbo_per_update: bool = False,
        verbose: int = 0,
    ) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.alpha_1 = alpha_1
        self.alpha_2 = alpha_2
        self.lambda_1 = lambda_1
        self.lambda_2 = lambda_2
        self.ard = ard
        self.threshold_lambda = threshold_lambda
        self.fit_intercept = fit_intercept
        self.elbo_per_update = elbo_per_update
        self.verbose = verbose

    def _check_parameters(self) -> None:
        check_vb_parameters(self, ("alpha_1", "alpha_2", "lambda_1", "lambda_2"))
        check_scalar(self.threshold_lambda, "threshold_lambda", numbers.Real, low=0.0, allow_inf=True)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "VBLinearRegression":
        """Fit the posterior by coordinate ascent on the ELBO.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NumPy, or a Dask array (summarised on its cluster in two passes).
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row (integer weights act as repeated
            rows).

        Returns
        -------
        self
        """
        with unchanged_on_error(self):
            with checking_parameters_of(self):
                self._check_parameters()
            if is_dask_array(X) or is_dask_array(y):
                Z = _dask_rows(self, X, y)
                X = Z[:, :-1]
            else:
                X, y = validate_numpy_data(self, X, y, dtype=list(FLOAT_DTYPES), y_numeric=True, reset=True)
                check_magnitude(X, X.dtype)
                check_magnitude(y[:, None], X.dtype)
                Z = np.column_stack([X, y]).astype(np.float64)  # one array of rows (x, y) for the executor
            sample_weight = check_sample_weight(sample_weight, X)
            model = VBLinearModel(X.shape[1], self.ard, self.alpha_1, self.alpha_2, self.lambda_1, self.lambda_2,
                                  self.fit_intercept, self.elbo_per_update, float(self.threshold_lambda))
            result = fit_loop(
                model, get_executor(Z, CHUNK_ROWS), Z, sample_weight, max_iter=int(self.max_iter), tol=float(self.tol),
                random_state=check_random_state(0), verbose=int(self.verbose), name=type(self).__name__,
            )
            attributes = self._attributes(model, result.params, result.stats, X.dtype)
        if not result.converged and self.max_iter > 0:
            warnings.warn("VBLinearRegression did not converge: increase max_iter or tol.", ConvergenceWarning)
        for name, value in attributes.items():
            setattr(self, name, value)
        self.converged_, self.n_iter_ = result.converged, result.n_iter
        self.lower_bound_, self.elbo_ = result.bound, result.tracker
        return self

    def _attributes(self, model: VBLinearModel, params: dict, s: _Summary, dtype: Any) -> dict:
        a, b, V, m = params["a"], params["b"], params["V"], params["m"]
        x_offset, y_offset = s.center[:-1], s.center[-1]
        lam = np.where(params["keep"], model.expected_lambda(params), np.inf)
        return {
            "coef_": m.astype(dtype),
            "intercept_": float(y_offset - x_offset @ m) if self.fit_intercept else 0.0,
            "sigma_": (b / (a - 1.0)) * V if a > 1.0 else np.full_like(V, np.inf),
            "alpha_": a / b,
            "lambda_": lam.copy() if self.ard else float(lam[0]),
            "coef_scale_": V,
            "noise_shape_": a,
            "noise_rate_": b,
            "lambda_shape_": params["c"],
            "lambda_rate_": params["rate"],
            "X_offset_": x_offset,
        }

    def _predictive(self, X: Any) -> tuple[Any, Any, float]:
        """The Student-t predictive of each row: location, scale^2 and degrees of freedom.

        For a Dask array X, lazy Dask arrays (each block computed where it lives).
        """
        check_is_fitted(self)
        if is_dask_array(X):
            X = check_data(self, X, reset=False)
        else:
            X = validate_numpy_data(self, X, dtype=list(FLOAT_DTYPES), reset=False)
        mean = X @ self.coef_ + self.intercept_
        Xc = X.astype(np.float64) - self.X_offset_
        leverage = ((Xc @ self.coef_scale_) * Xc).sum(axis=1)
        return mean, (self.noise_rate_ / self.noise_shape_) * (1.0 + leverage), 2.0 * self.noise_shape_

    def predict(self, X: Any, return_std: bool = False) -> Any:
        """The posterior predictive mean, and optionally its standard deviation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_std : bool, default=False
            Also return the standard deviation of the Student-t predictive
            St(m^T x, (b / a)(1 + x^T V x), 2a): its scale times
            sqrt(nu / (nu - 2)) with nu = 2a (noise and weight uncertainty
            together; infinite while nu <= 2).

        Returns
        -------
        y_mean : ndarray of shape (n_samples,)
        y_std : ndarray of shape (n_samples,)
            Only with ``return_std=True``.
        """
        mean, scale2, nu = self._predictive(X)
        if not return_std:
            return mean
        std = np.sqrt(scale2 * nu / (nu - 2.0)) if nu > 2.0 else np.full_like(scale2, np.inf)
        return mean, std

    def predictive_log_pdf(self, X: Any, y: Any) -> np.ndarray:
        """log p(y_n | x_n, data) under the Student-t posterior predictive, per row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        mean, scale2, nu = self._predictive(X)
        if not is_dask_array(y):
            y = np.asarray(to_numpy(y), dtype=np.float64).reshape(-1)
        # log St(y | mean, scale2, nu), written out so that Dask arrays stay lazy.
        const = math.lgamma(0.5 * (nu + 1.0)) - math.lgamma(0.5 * nu) - 0.5 * math.log(nu * math.pi)
        r2 = (y - mean) ** 2 / scale2
        return const - 0.5 * _log(scale2) - 0.5 * (nu + 1.0) * _log1p(r2 / nu)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
