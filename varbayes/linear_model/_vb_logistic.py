"""Variational Bayesian logistic regression with the Jaakkola-Jordan bound.

The model (Jaakkola & Jordan (2000), Statistics and Computing 10; Bishop
(2006), sec. 10.6; Drugowitsch (2013), arXiv:1310.5438, sec. 3)::

    y_n | w       ~ Bernoulli(sigmoid(w^T x_n))      (x_n with a final 1 for the intercept)
    w_j | lambda  ~ N(0, 1 / lambda_g(j))
    lambda_g      ~ Gam(lambda_1, lambda_2)

with one precision per coefficient (``ard=True``), or one shared by the
features and one for the intercept.  The likelihood has no conjugate
prior; Jaakkola and Jordan's bound, tangent to log sigmoid at +-xi_n,

    log sigmoid(z) >= log sigmoid(xi) + (z - xi) / 2 - g(xi) (z^2 - xi^2),
    g(xi) = tanh(xi / 2) / (4 xi),

is quadratic in w, so under it q(w) is Gaussian.  The ELBO of the bounded
model is a lower bound on the ELBO of the true one, hence on log p(y), and
coordinate ascent maximises it over three factors, each exactly:

* the local variational parameters xi_n (the local step, chunk by chunk):
  xi_n^2 = x_n^T (V + m m^T) x_n;
* q(w) = N(m, V): V^{-1} = diag(E[lambda]) + 2 sum_n g(xi_n) x_n x_n^T,
  m = V sum_n (y_n - 1/2) x_n;
* q(lambda_g) = Gam(lambda_1 + n_g / 2, lambda_2 + sum_{j in g} (m_j^2 + V_jj) / 2).

Sample weights multiply each row's terms.  Predictions use the moderated
output sigmoid(mu / sqrt(1 + pi s^2 / 8)), mu = m^T x, s^2 = x^T V x
(MacKay (1992), Neural Computation 4): the probit approximation of
E_q[sigmoid(w^T x)]; or, with ``proba_method='monte_carlo'``, its Monte-Carlo
estimate over the one-dimensional N(mu, s^2).
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelEncoder
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from .._backend import get_backend
from .._execution import ChunkExecutor, compute, get_executor, is_dask_array, persist
from .._validation import (
    FLOAT_DTYPES,
    check_data,
    validate_numpy_data,
    check_magnitude,
    check_option,
    check_random_state_param,
    check_sample_weight,
    check_scalar,
    checking_parameters_of,
    unchanged_on_error,
)
from ..expfam import Gamma
from ..vi import Bound, ConjugateModel, fit_loop
from ._gaussian import LOG_2PI, gaussian_entropy, gaussian_from_precision, quadratic_forms, weighted_gram
from ._vb_linear import CHUNK_ROWS, check_vb_parameters, dask_xy

__all__ = ["VBLogisticRegression"]



def jj_slope(xi: np.ndarray) -> np.ndarray:
    """g(xi) = tanh(xi / 2) / (4 xi), with its limit 1/8 at xi = 0."""
    xi = np.abs(xi)
    out = np.full_like(xi, 0.125)
    big = xi > 1e-6
    out[big] = np.tanh(0.5 * xi[big]) / (4.0 * xi[big])
    return out


@dataclass
class LogisticStats:
    """Weighted sums of one set of local parameters xi (additive over rows).

    ``precision`` = 2 sum s g(xi) x x^T, ``linear`` = sum s (y - 1/2) x,
    ``log_h`` = sum s [log sigmoid(xi) - xi / 2 + g(xi) xi^2], the part of
    the bound that does not involve w.
    """

    n_samples: float
    precision: np.ndarray
    linear: np.ndarray
    log_h: float

    def __add__(self, other: "LogisticStats") -> "LogisticStats":
        return LogisticStats(self.n_samples + other.n_samples, self.precision + other.precision,
                             self.linear + other.linear, self.log_h + other.log_h)


def logistic_step(Zc: Any, weights: Any, rows: slice, second_chol: np.ndarray) -> LogisticStats:
    """The local step: the optimal xi_n = sqrt(x_n^T E[w w^T] x_n) of a chunk, and its statistics.

    ``Zc`` holds rows (x_n, 1, y_n); ``second_chol`` is the lower Cholesky
    factor L of E[w w^T] = V + m m^T (positive definite, as V is), so that
    xi_n^2 = ||L^T x_n||^2 takes a triangular product.
    """
    Zc = np.asarray(Zc, dtype=np.float64)
    X, y = Zc[:, :-1], Zc[:, -1]
    s = np.ones(X.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    xi = np.sqrt(np.maximum(quadratic_forms(X, second_chol), 0.0))
    g = jj_slope(xi)
    log_sigmoid = -np.logaddexp(0.0, -xi)
    return LogisticStats(
        float(s.sum()), weighted_gram(X, 2.0 * s * g), X.T @ (s * (y - 0.5)),
        float(np.sum(s * (log_sigmoid - 0.5 * xi + g * xi**2))),
    )


#: Rows of the random sample whose fit starts a fit on more than 5x as many (see
#: ``VBLogisticRegression._sample_start``).
SAMPLE_START_ROWS = 20_000


def _check_two_classes(classes: np.ndarray) -> np.ndarray:
    if classes.size < 2:
        raise ValueError(
            f"This solver needs samples of at least 2 classes in the data, but the data contains only "
            f"one class: {classes[0]!r}."
        )
    return classes


def _binary_targets(codes: Any, n_classes: int) -> list:
    """The 0/1 targets of the binary problems: one for two classes, one per class (one-vs-rest) otherwise."""
    return [codes == 1] if n_classes == 2 else [codes == k for k in range(n_classes)]


def _dask_ones(X: Any) -> Any:
    import dask.array as da

    return da.ones((X.shape[0], 1), chunks=(X.chunks[0], 1), dtype=np.float64)


def _stack(columns: list) -> Any:
    """Rows (x, [1,] y) as one array: NumPy, or Dask with one block of columns."""
    if is_dask_array(columns[0]):
        import dask.array as da

        return persist(da.concatenate(columns, axis=1).rechunk({1: -1}))
    return np.column_stack(columns)


class VBLogisticModel(ConjugateModel):
    """The CAVI model of one binary problem (see the module docstring).

    Parameters
    ----------
    groups : ndarray of int, shape (D,)
        The precision that each coefficient (the intercept last) shares.
    lambda_1, lambda_2 : float
    record_each_update : bool
    """

    local_name = "xi"

    def __init__(self, groups: np.ndarray, lambda_1: float, lambda_2: float, record_each_update: bool) -> None:
        self.groups = np.asarray(groups)
        self.n_groups = int(self.groups.max()) + 1
        self.sizes = np.bincount(self.groups, minlength=self.n_groups).astype(float)
        self.c0, self.d0 = float(lambda_1), float(lambda_2)
        self.record_each_update = bool(record_each_update)
        self.gamma = Gamma(get_backend("cpu"))

    def initialize(self, executor: Any, Z: Any, sample_weight: Any, random_state: np.random.RandomState) -> dict:
        """q = the prior."""
        c, rate = np.full(self.n_groups, self.c0), np.full(self.n_groups, self.d0)
        D = self.groups.size
        return {"m": np.zeros(D), "V": np.diag((rate / c)[self.groups]), "c": c, "rate": rate}

    def local_params(self, params: dict) -> tuple:
        return (np.linalg.cholesky(params["V"] + np.outer(params["m"], params["m"])),)

    local_step = staticmethod(logistic_step)

    def global_updates(self) -> list:
        return [("q(w)", self.update_coef), ("q(lambda)", self.update_lambda)]

    def expected_lambda(self, params: dict) -> np.ndarray:
        return (params["c"] / params["rate"])[self.groups]

    def update_coef(self, params: dict, s: LogisticStats) -> tuple[dict, float]:
        """q(w) = N(m, V), the maximiser of the bound for the current xi and E[lambda] (Bishop eqs. 10.156-10.157)."""
        m, V = gaussian_from_precision(s.precision + np.diag(self.expected_lambda(params)), s.linear)
        return {**params, "m": m, "V": V}, 0.0

    def update_lambda(self, params: dict, s: LogisticStats) -> tuple[dict, float]:
        """q(lambda_g) = Gam(lambda_1 + n_g / 2, lambda_2 + sum_{j in g} E[w_j^2] / 2)."""
        second = params["m"] ** 2 + np.diag(params["V"])
        rate = self.d0 + 0.5 * np.bincount(self.groups, weights=second, minlength=self.n_groups)
        return {**params, "c": self.c0 + 0.5 * self.sizes, "rate": rate}, 0.0

    def bound(self, params: dict, s: LogisticStats, step: str) -> Bound:
        """The ELBO of the bounded model per unit of weight: a lower bound on log p(y) / N.

        E_q[log h(w, xi)] + E_q[log p(w | lambda)] + E_q[log p(lambda)] + H[q(w)] + H[q(lambda)],
        with E_q[log h] = log_h + m^T linear - tr(precision E[w w^T]) / 2.
        """
        g = self.gamma
        m, V, c, rate = params["m"], params["V"], params["c"], params["rate"]
        second = V + np.outer(m, m)
        loglik = s.log_h + float(m @ s.linear) - 0.5 * float(np.sum(s.precision * second))
        e_lam = self.expected_lambda(params)
        e_log_lam = g.expected_log(c, rate)[self.groups]
        prior_w = 0.5 * float(np.sum(e_log_lam - LOG_2PI)) - 0.5 * float(e_lam @ np.diag(second))
        kl_coef = -(prior_w + gaussian_entropy(V))
        kl_lambda = float(np.sum(g.kl(c, rate, self.c0, self.d0)))
        n = s.n_samples
        return Bound((loglik - kl_coef - kl_lambda) / n,
                     {"expected_loglik": loglik / n, "kl_coef": kl_coef / n, "kl_lambda": kl_lambda / n})


class VBLogisticRegression(ClassifierMixin, BaseEstimator):
    """Bayesian logistic regression by variational Bayes (Jaakkola-Jordan bound), optionally with ARD.

    A Gaussian prior on the coefficients whose precision has a Gamma prior
    (one shared by the features, one for the intercept; or with ``ard=True``
    one per coefficient), fitted by coordinate ascent on a lower bound of
    the log evidence: the local variational parameters xi_n of Jaakkola and
    Jordan's quadratic bound on log sigmoid (one per row, computed chunk by
    chunk as the core's local step), then q(w) (Gaussian), then q(lambda)
    (Gamma).  Every update is exact in its factor, so the recorded bound
    (``elbo_``) never decreases, and it stays below log p(y) / n.  See the
    module docstring for the equations.

    More than two classes are fitted one-vs-rest: one binary model per
    class, each with its own bound (``elbo_`` is then a list of trackers,
    one per class), and the probabilities normalised across classes.  One
    vs rest keeps every sub-problem exactly the binary model above (a
    softmax likelihood needs a further, looser bound, e.g. Bouchard's), and
    its fits are independent.

    Parameters
    ----------
    max_iter : int, default=200
    tol : float, default=1e-4
        Convergence: the last sweep's gain of the bound is at most ``tol``
        times the gain since the first sweep.
    lambda_1, lambda_2 : float, default=1e-2
        Shape and rate of the Gamma prior on the weight precisions (its mean
        1: a unit-variance prior on standardised features to start from).
    ard : bool, default=False
    fit_intercept : bool, default=True
    class_weight : dict, 'balanced' or None, default=None
        Multiplies the sample weights, as scikit-learn's.
    elbo_per_update : bool, default=False
        Record the bound after each update ('xi', 'q(w)', 'q(lambda)').
    proba_method : {'moderated', 'monte_carlo'}, default='moderated'
        How :meth:`predict_proba` averages sigmoid(w^T x) over q(w): the
        probit approximation (MacKay 1992), or the mean over
        ``n_proba_samples`` draws of w^T x ~ N(mu, s^2) (one-dimensional,
        so cheap), with noise keyed by each row (a row's probability does
        not depend on the rows beside it).
    n_proba_samples : int, default=1000
        Draws per row for ``proba_method='monte_carlo'``.
    random_state : int, RandomState or None, default=None
        Seeds the keys of the Monte-Carlo noise.
    verbose : int, default=0
        Print each sweep's progress (as :class:`GaussianMixture`), with a
        progress bar where stderr is a terminal.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Posterior means of the coefficients (one row per one-vs-rest problem).
    intercept_ : ndarray of shape (1,) or (n_classes,)
    coef_covariance_ : ndarray of shape (n_problems, n_features + 1, n_features + 1)
        The posterior covariance V of (coefficients, intercept) of each problem
        (the intercept last, when fitted).
    lambda_ : ndarray of shape (n_problems, n_precisions)
        E[lambda] of each problem.
    lower_bound_ : float
        The final bound per unit of weight (the sum over problems).
    elbo_ : ELBOTracker or list of ELBOTracker
    n_iter_ : ndarray of shape (n_problems,)
    converged_ : bool
    n_features_in_ : int
    """

    def __init__(
        self,
        max_iter: int = 200,
        tol: float = 1e-4,
        lambda_1: float = 1e-2,
        lambda_2: float = 1e-2,
        ard: bool = False,
        fit_intercept: bool = True,
        class_weight: Any = None,
        elbo_per_update: bool = False,
        proba_method: str = "moderated",
        n_proba_samples: int = 1000,
        random_state: Any = None,
        verbose: int = 0,
    ) -> None:
        self.max_iter = max_iter
        self.tol = tol
        self.lambda_1 = lambda_1
        self.lambda_2 = lambda_2
        self.ard = ard
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.elbo_per_update = elbo_per_update
        self.proba_method = proba_method
        self.n_proba_samples = n_proba_samples
        self.random_state = random_state
        self.verbose = verbose

    def _check_parameters(self) -> None:
        check_vb_parameters(self, ("lambda_1", "lambda_2"))
        check_option(self.proba_method, "proba_method", ("moderated", "monte_carlo"))
        check_scalar(self.n_proba_samples, "n_proba_samples", numbers.Integral, low=1)
        check_random_state_param(self.random_state)

    def _groups(self, n_features: int) -> np.ndarray:
        if self.ard:
            return np.arange(n_features + int(self.fit_intercept))
        return np.array([0] * n_features + ([1] if self.fit_intercept else []))

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "VBLogisticRegression":
        """Fit q(w) q(lambda) (and the local parameters xi) by coordinate ascent.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NumPy, or a Dask array (one graph per sweep on its cluster).
        y : array-like of shape (n_samples,)
            Class labels; a Dask array when X is one (or any array-like).
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        self
        """
        with unchanged_on_error(self):
            with checking_parameters_of(self):
                self._check_parameters()
            if is_dask_array(X) or is_dask_array(y):
                X, classes, problems, weights = self._dask_problems(X, y, sample_weight)
                ones = _dask_ones(X)
            else:
                X, classes, problems, weights = self._problems(X, y, sample_weight)
                ones = np.ones((X.shape[0], 1))
            columns = [X.astype(np.float64)] + ([ones] if self.fit_intercept else [])
            groups = self._groups(X.shape[1])
            results = []
            for target in problems:
                Z = _stack(columns + [target.astype(np.float64)[:, None]])
                model = VBLogisticModel(groups, self.lambda_1, self.lambda_2, self.elbo_per_update)
                executor = get_executor(Z, CHUNK_ROWS)
                start, progress = self._sample_start(model, executor, Z, weights)
                results.append((model, fit_loop(
                    model, executor, Z, weights, max_iter=int(self.max_iter), tol=float(self.tol),
                    random_state=check_random_state(0), verbose=int(self.verbose), name=type(self).__name__,
                    warm_params=start, progress=progress,
                )))
        if self.max_iter > 0 and not all(r.converged for _, r in results):
            warnings.warn("VBLogisticRegression did not converge: increase max_iter or tol.", ConvergenceWarning)
        d = X.shape[1]
        means = np.array([r.params["m"] for _, r in results])
        self.classes_ = classes
        self.coef_ = means[:, :d].astype(X.dtype)
        self.intercept_ = means[:, d] if self.fit_intercept else np.zeros(len(results))
        self.coef_covariance_ = np.array([r.params["V"] for _, r in results])
        self.lambda_ = np.array([m.expected_lambda(r.params) for m, r in results])
        self.lower_bound_ = float(sum(r.bound for _, r in results))
        self.elbo_ = results[0][1].tracker if len(results) == 1 else [r.tracker for _, r in results]
        self.n_iter_ = np.array([r.n_iter for _, r in results])
        self.converged_ = all(r.converged for _, r in results)
        return self

    def _sample_start(self, model: VBLogisticModel, executor: Any, Z: Any, weights: Any) -> tuple[dict | None, tuple]:
        """On large data, q(w) q(lambda) fitted to a random sample of
        :data:`SAMPLE_START_ROWS` rows, its covariance scaled by the sample's
        share of the total weight: the full-data sweeps start near the
        optimum instead of at the prior (measured at n = 10^6: 20 sweeps from
        the prior, 13 from a 2% sample).  The sample's fit stands in for the
        first sweep in the convergence rule: its first bound (per sample, as
        every bound) is the reference L_1, so the full fit stops where a fit
        from the prior would, relative to the whole gain from the prior.
        Returns (None, (0, None)), the prior, for data under 5x the sample
        size or ``max_iter=0``.  The sample is fixed (a permutation seeded
        with 0): the fit stays deterministic."""
        n = Z.shape[0]
        if n <= 5 * SAMPLE_START_ROWS or self.max_iter == 0:
            return None, (0, None)
        rows = np.sort(np.random.RandomState(0).permutation(n)[:SAMPLE_START_ROWS])
        sample = np.asarray(executor.take(Z, rows), dtype=np.float64)
        if weights is None:
            sample_weights, share = None, SAMPLE_START_ROWS / n
        else:
            sample_weights = np.asarray(executor.take(weights, rows), dtype=np.float64)
            total = compute(weights.sum())[0] if is_dask_array(weights) else np.sum(weights)
            share = float(sample_weights.sum() / total)
            if not share > 0:  # the sample holds no weight: start at the prior
                return None, (0, None)
        start = fit_loop(model, ChunkExecutor(CHUNK_ROWS), sample, sample_weights, max_iter=int(self.max_iter),
                         tol=float(self.tol), random_state=check_random_state(0))
        return {**start.params, "V": start.params["V"] * share}, (1, start.bounds[0])

    def _problems(self, X: Any, y: Any, sample_weight: Any) -> tuple:
        """In memory: X validated, the classes, one 0/1 target per binary
        problem (one-vs-rest), and the row weights (sample and class weights)."""
        X, y = validate_numpy_data(self, X, y, dtype=list(FLOAT_DTYPES), reset=True)
        check_classification_targets(y)
        check_magnitude(X, X.dtype)
        encoder = LabelEncoder().fit(y)
        classes = _check_two_classes(encoder.classes_)
        codes = encoder.transform(y)
        sample_weight = check_sample_weight(sample_weight, X)
        weights = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if self.class_weight is not None:
            weights = weights * compute_sample_weight(self.class_weight, y)
        return X, classes, _binary_targets(codes, classes.size), weights

    def _dask_problems(self, X: Any, y: Any, sample_weight: Any) -> tuple:
        """:meth:`_problems` for Dask arrays: X validated and persisted on the
        cluster, the classes and their counts computed (one small graph), the
        targets and weights lazy, chunked like X's rows."""
        import dask.array as da

        X, y = dask_xy(self, X, y)
        classes = compute(da.unique(y))[0]
        check_classification_targets(classes)
        classes = _check_two_classes(classes)
        codes = y.map_blocks(lambda block: np.searchsorted(classes, block), dtype=np.intp)
        weights = check_sample_weight(sample_weight, X)
        if self.class_weight is not None:
            counts = compute(da.bincount(codes, minlength=classes.size))[0]
            # scikit-learn's class weights from the class counts alone (its own
            # function, on a stand-in y with the same counts).
            per_class = compute_sample_weight(self.class_weight, np.repeat(classes, counts))[np.cumsum(counts) - 1]
            by_row = codes.map_blocks(lambda c: per_class[c], dtype=np.float64)
            weights = by_row if weights is None else weights.astype(np.float64) * by_row
        targets = _binary_targets(codes, classes.size)
        return X, classes, targets, weights

    def _blockwise(self, X: Any, method: str, n_columns: int | None) -> Any:
        """``method`` on each row block of a Dask X, where the block lives: a
        lazy Dask array (1-D when ``n_columns`` is None).  Blocks are
        validated on the cluster; the Monte-Carlo noise is keyed by each
        row's values, so the result equals the in-memory one."""
        check_is_fitted(self)
        X = check_data(self, X, reset=False)
        fn = getattr(self, method)
        dtype = self.classes_.dtype if method == "predict" else np.float64
        if n_columns is None:
            return X.map_blocks(fn, drop_axis=1, dtype=dtype)
        return X.map_blocks(fn, chunks=(X.chunks[0], (n_columns,)), dtype=dtype)

    def decision_function(self, X: Any) -> np.ndarray:
        """The moderated log-odds kappa mu of each problem, kappa = (1 + pi s^2 / 8)^(-1/2).

        The logit of :meth:`predict_proba` for two classes, so the two rank
        samples alike (the posterior mean of w^T x alone, ``X @ coef_.T +
        intercept_``, does not: uncertain samples are pulled towards 0).
        Shape (n_samples,) for two classes, else (n_samples, n_classes).
        """
        if is_dask_array(X):
            return self._blockwise(X, "decision_function", None if len(self.classes_) == 2 else len(self.classes_))
        scores = self._moderated_logits(X)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def _activation(self, X: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The mean mu and variance s^2 of w^T x under q, per row and problem, and X with its 1s."""
        check_is_fitted(self)
        X = validate_numpy_data(self, X, dtype=list(FLOAT_DTYPES), reset=False)
        Xa = np.column_stack([X] + ([np.ones(X.shape[0])] if self.fit_intercept else [])).astype(np.float64)
        W = self.coef_.astype(np.float64)
        mu = Xa @ (np.column_stack([W, self.intercept_]) if self.fit_intercept else W).T
        var = np.stack([((Xa @ V) * Xa).sum(axis=1) for V in self.coef_covariance_], axis=1)
        return mu, np.maximum(var, 0.0), Xa

    def _moderated_logits(self, X: Any) -> np.ndarray:
        """kappa mu per problem: shape (n_samples, n_problems)."""
        mu, var, _ = self._activation(X)
        return mu / np.sqrt(1.0 + np.pi * var / 8.0)

    def _moderated(self, X: Any) -> np.ndarray:
        """E_q[sigmoid(w^T x)] per problem, shape (n_samples, n_problems): by ``proba_method``."""
        if self.proba_method == "moderated":
            return 0.5 * (1.0 + np.tanh(0.5 * self._moderated_logits(X)))  # sigmoid, without overflow
        mu, var, Xa = self._activation(X)
        be = get_backend("cpu")
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        eps = be.keyed_normal(be.row_keys(Xa, seed), 0, int(self.n_proba_samples), np.float64)  # (n, S)
        z = mu[:, :, None] + np.sqrt(var)[:, :, None] * eps[:, None, :]
        return (0.5 * (1.0 + np.tanh(0.5 * z))).mean(axis=2)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities by the moderated (probit-approximated) predictive.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Rows sum to 1 (one-vs-rest probabilities normalised).
        """
        if is_dask_array(X):
            return self._blockwise(X, "predict_proba", len(self.classes_))
        p = self._moderated(X)
        if p.shape[1] == 1:
            return np.column_stack([1.0 - p[:, 0], p[:, 0]])
        total = p.sum(axis=1, keepdims=True)
        return np.where(total > 0, p / np.where(total > 0, total, 1.0), 1.0 / p.shape[1])

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """log of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample."""
        if is_dask_array(X):
            return self._blockwise(X, "predict", None)
        proba = self.predict_proba(X)  # checks fitted first
        return self.classes_[np.argmax(proba, axis=1)]
