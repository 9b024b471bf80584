"""Variational Bayesian PCA with ARD and missing values: varbayes.VBPCA and varbayes.VBPCAImputer."""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, OneToOneFeatureMixin, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.extmath import svd_flip
from sklearn.utils.validation import check_is_fitted

from .._backend import to_numpy
from .._execution import get_executor, is_dask_array, persist
from .._validation import (
    check_array_param,
    check_data,
    check_largest,
    check_option,
    check_random_state_param,
    check_sample_weight,
    check_scalar,
    check_verbose,
    check_warm_start,
    checking_parameters_of,
    unchanged_on_error,
)
from ..vi import fit_loop
from ._model import VBPCAModel
from ._predict import impute_step, score_step, transform_step
from ._stats import ColumnSummary, column_summary_step

__all__ = ["VBPCA", "VBPCAImputer"]

#: Bytes of work arrays per chunk of rows (the per-row (q+1)^2 moments dominate).
CHUNK_BYTES = 4 << 20

#: A column of the loadings is pruned by ARD when the variance it carries,
#: sigma_k^2 (its squared singular value), is below this fraction of the
#: noise variance (a pruned column shrinks towards 0 geometrically).
PRUNE_RATIO = 1e-3


def _chunk_rows(d: int, q: int) -> int:
    """Rows per chunk of the per-row local step."""
    per_row = 8 * (3 * d + 2 * (q + 1) ** 2 + 4 * q)
    return int(min(max(CHUNK_BYTES // per_row, 16), 65536))


def _gram_rows(d: int) -> int:
    """Rows per chunk of the passes that only sum over rows (a few d-wide work arrays)."""
    return int(min(max(CHUNK_BYTES // (8 * 3 * d), 64), 65536))


def _recentred(params: dict, old: np.ndarray, new: np.ndarray) -> dict:
    """q(W, mu) in coordinates about ``new`` instead of ``old``: mu = c + mu', so mu' gains old - new."""
    mean = params["mean"].copy()
    mean[:, -1] += old - new
    return {**params, "mean": mean}


def _default(value: float | None, default: float) -> float:
    return default if value is None else float(value)


def _as_nan(block: np.ndarray, missing_values: float) -> np.ndarray:
    """A block with its ``missing_values`` placeholders as NaN (NaN already there is refused)."""
    if np.isnan(block).any():
        raise ValueError(
            f"X contains NaN, but missing_values={missing_values!r}: pass missing_values=np.nan, "
            "or replace the NaN entries."
        )
    return np.where(block == missing_values, np.nan, block).astype(block.dtype, copy=False)


class _BaseVBPCA(TransformerMixin, BaseEstimator):
    """Fitting, predictions and imputation shared by :class:`VBPCA` and :class:`VBPCAImputer`."""

    def __init__(
        self,
        n_components: int | None = None,
        *,
        noise_type: str = "isotropic",
        missing_values: float = np.nan,
        max_iter: int = 1000,
        tol: float = 1e-3,
        alpha_1: float = 1e-6,
        alpha_2: float | None = None,
        lambda_1: float = 1e-6,
        lambda_2: float | None = None,
        mean_prior: Any = None,
        mean_precision_prior: float | None = None,
        init_params: str = "pca",
        n_init: int = 1,
        random_state: Any = None,
        warm_start: bool = False,
        elbo_per_update: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
    ) -> None:
        self.n_components = n_components
        self.noise_type = noise_type
        self.missing_values = missing_values
        self.max_iter = max_iter
        self.tol = tol
        self.alpha_1 = alpha_1
        self.alpha_2 = alpha_2
        self.lambda_1 = lambda_1
        self.lambda_2 = lambda_2
        self.mean_prior = mean_prior
        self.mean_precision_prior = mean_precision_prior
        self.init_params = init_params
        self.n_init = n_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.elbo_per_update = elbo_per_update
        self.verbose = verbose
        self.verbose_interval = verbose_interval

    # ------------------------------------------------------------ validation
    def _n_components(self, n_features: int) -> int:
        """q for data of ``n_features`` columns."""
        if self.n_components is None:
            return max(n_features - 1, 1)
        if self.n_components > n_features:
            raise ValueError(
                f"n_components={self.n_components} must be at most n_features={n_features}: "
                f"pass n_components <= {n_features}, or None (the default; ARD prunes what the data do not need)."
            )
        return int(self.n_components)

    def _check_parameters(self) -> None:
        """Validate the constructor parameters."""
        if self.n_components is not None:
            check_scalar(self.n_components, "n_components", numbers.Integral, low=1)
        check_scalar(self.max_iter, "max_iter", numbers.Integral, low=0)
        check_scalar(self.tol, "tol", numbers.Real, low=0.0)
        for name in ("alpha_1", "alpha_2", "lambda_1", "lambda_2", "mean_precision_prior"):
            if getattr(self, name) is not None or name in ("alpha_1", "lambda_1"):
                check_scalar(getattr(self, name), name, numbers.Real, low=0.0, include_low=False)
        check_option(self.init_params, "init_params", ("pca", "random"))
        check_option(self.noise_type, "noise_type", ("isotropic", "diagonal"))
        check_scalar(self.n_init, "n_init", numbers.Integral, low=1)
        check_random_state_param(self.random_state)
        for name in ("warm_start", "elbo_per_update"):
            check_option(getattr(self, name), name, (False, True))
        check_verbose(self.verbose)
        check_scalar(self.verbose_interval, "verbose_interval", numbers.Integral, low=1)
        mv = self.missing_values
        if not isinstance(mv, numbers.Real) or isinstance(mv, bool) or np.isinf(mv):
            raise ValueError(f"missing_values must be np.nan or a finite number, got {mv!r}.")

    def _validate(self, X: Any, reset: bool, fitting: bool = False) -> Any:
        """X as a float array (NumPy, or Dask: persisted for a fit, lazy
        otherwise) with NaN where an entry is missing; infinity is refused."""
        if isinstance(X, np.ma.MaskedArray):  # masked entries are missing
            mv = self.missing_values
            fill = np.nan if not isinstance(mv, numbers.Real) or math.isnan(mv) else mv
            X = (X if np.issubdtype(X.dtype, np.floating) else X.astype(np.float64)).filled(fill)
        X = check_data(self, X, reset=reset, persist=fitting, allow_nan=True)
        mv = self.missing_values
        if isinstance(mv, numbers.Real) and math.isnan(mv):
            return X
        if not is_dask_array(X):
            return _as_nan(X, mv)
        X = X.map_blocks(_as_nan, mv, dtype=X.dtype)
        return persist(X) if fitting else X

    @staticmethod
    def _summary(X: Any, sample_weight: Any, fitting: bool) -> ColumnSummary:
        """One pass over X: its magnitude checked and, for a fit, its missing
        pattern (no row and no column entirely missing) and column sums."""
        summary = get_executor(X, _gram_rows(X.shape[1])).map_sum(column_summary_step, X, sample_weight)
        check_largest(summary.largest, X.shape, X.dtype, 2)
        if not fitting:
            return summary
        if summary.empty_row >= 0:
            raise ValueError(
                f"Row {summary.empty_row} of X has every entry missing: such a row carries no information. "
                "Drop such rows before fitting (X[~np.isnan(X).all(axis=1)]); transform and impute accept "
                "them and return the prior's values."
            )
        empty = np.flatnonzero(summary.observed <= 0)
        if empty.size:
            raise ValueError(
                f"Column {empty[0]} of X has no observed entry (or only in rows of zero sample_weight): "
                f"nothing can be learnt about it ({empty.size} such column(s)). Drop it before fitting."
            )
        return summary

    # ------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> "_BaseVBPCA":
        """Fit the posterior by coordinate ascent on the ELBO.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Entries equal to ``missing_values`` (NaN by default) are missing;
            each row's local update uses its observed entries only.  No row
            and no column may be entirely missing.
        y : Ignored
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weight of each row (integer weights act as repeated
            rows).

        Returns
        -------
        self
        """
        with unchanged_on_error(self):
            do_init = not (self.warm_start and hasattr(self, "converged_"))
            with checking_parameters_of(self):
                self._check_parameters()
            X = self._validate(X, reset=do_init, fitting=True)
            q = self._n_components(X.shape[1])
            structure = self._structure(q)
            if not do_init:
                check_warm_start(self, structure)
            self._check_n_samples(X.shape[0])
            sample_weight = check_sample_weight(sample_weight, X)
            d = X.shape[1]
            mean_prior = None if self.mean_prior is None else check_array_param(
                self.mean_prior, "mean_prior", (d,), np.float64)  # (before the pass over X)
            summary = self._summary(X, sample_weight, fitting=True)
            # Complete data: the only passes are the summaries (long chunks for their products).
            summarized = summary.n_missing == 0 and self._summarizes
            executor = get_executor(X, _gram_rows(d) if summarized else self._chunk_rows(d, q))
            center = summary.sums / summary.observed
            mean_prior = center if mean_prior is None else mean_prior
            # Rates in the data's units by default, so that the fit does not depend on the data's scale.
            scale = summary.variance_scale()
            priors = (self.alpha_1, _default(self.alpha_2, 1e-6 * scale), self.lambda_1,
                      _default(self.lambda_2, 1e-6 * scale), _default(self.mean_precision_prior, 1e-6 / scale))
            model = self._model(VBPCAModel(center, mean_prior - center, q, priors, self.noise_type == "diagonal",
                                           summarized, self.init_params, self.elbo_per_update,
                                           scale=scale))
            warm = None if do_init else self._warm_params(center)
            result = fit_loop(
                model, executor, X, sample_weight, n_init=int(self.n_init), max_iter=int(self.max_iter),
                tol=float(self.tol), random_state=check_random_state(self.random_state), warm_params=warm,
                progress=getattr(self, "_convergence", (0, None)), verbose=int(self.verbose),
                verbose_interval=int(self.verbose_interval), name=type(self).__name__,
            )
            attributes = self._attributes(model, result.params, X.dtype)
        if not result.converged and self.max_iter > 0:
            warnings.warn(
                f"{type(self).__name__} did not converge in {self.max_iter} iterations: increase max_iter or tol.",
                ConvergenceWarning,
            )
        for name, value in attributes.items():
            setattr(self, name, value)
        self.converged_, self.n_iter_ = result.converged, result.n_iter
        self.lower_bound_, self.elbo_ = result.bound, result.tracker
        self._convergence = result.progress
        self._fitted_structure = structure
        return self

    # The hooks a subclass with another model (the mixture) overrides.
    #: Complete data are summarised once (the rows' weights do not change between sweeps).
    _summarizes = True

    def _structure(self, q: int) -> dict:
        """The parameters a warm start must keep."""
        return {"n_components": q, "noise_type": self.noise_type}

    def _check_n_samples(self, n: int) -> None:
        if n < 2:
            raise ValueError(f"n_samples={n} should be >= 2: a PCA needs at least two rows.")

    def _chunk_rows(self, d: int, q: int) -> int:
        return _chunk_rows(d, q)

    def _model(self, component: VBPCAModel) -> Any:
        """The model :func:`fit_loop` fits, from VB PCA's."""
        return component

    def _warm_params(self, center: np.ndarray) -> dict:
        """The fitted posterior, its mean column moved to the new centre."""
        return _recentred(self._posterior, self._posterior["center"], center)

    def _attributes(self, model: VBPCAModel, params: dict, dtype: Any) -> dict:
        q = model.q
        loadings = params["mean"][:, :q]
        u, sv, vt = np.linalg.svd(loadings, full_matrices=False)
        u, vt = svd_flip(u, vt, u_based_decision=True)  # each component's largest entry positive
        noise = params["tau_rate"] / params["tau_shape"]  # 1 / E[tau_j]: (1,) or (d,)
        variance = sv**2
        total = variance.sum() + float(np.broadcast_to(noise, (model.d,)).sum())
        return {
            "components_": u.T.astype(dtype),
            "singular_values_": sv,
            "explained_variance_": variance,
            "explained_variance_ratio_": variance / total,
            "noise_variance_": noise.copy() if model.diagonal else float(noise[0]),
            "mean_": (model.center + params["mean"][:, q]).astype(dtype),
            "n_components_": q,
            "n_effective_components_": int(np.sum(variance > PRUNE_RATIO * float(np.mean(noise)))),
            "ard_precision_": params["lam_shape"] / params["lam_rate"],
            "noise_precision_": (1.0 / noise) if model.diagonal else float(1.0 / noise[0]),
            "loadings_": loadings.copy(),
            "_rotation": vt.T,
            "_posterior": {**params, "center": model.center},
        }

    # ------------------------------------------------------------ per-row outputs
    def _map(self, step: Any, X: Any, *broadcast: Any, width: int | None = None) -> Any:
        """``step`` over the rows of a validated X by the executor: NumPy, or a lazy Dask array."""
        p = self._posterior
        tau = np.broadcast_to(p["tau_shape"] / p["tau_rate"], (X.shape[1],))
        out = None if width is None else np.zeros((0, width))
        executor = get_executor(X, self._chunk_rows(X.shape[1], self.n_components_))
        return executor.map_concat(step, np, X, p["center"], tau, p["mean"], *broadcast, out=out)

    def _checked(self, X: Any) -> Any:
        check_is_fitted(self)
        X = self._validate(X, reset=False)
        if not is_dask_array(X):  # (a Dask array's blocks are checked as they are computed)
            self._summary(X, None, fitting=False)
        return X

    def impute(self, X: Any, return_std: bool = False) -> Any:
        """X with each missing entry replaced by its posterior mean E[w_j^T z_n + mu_j].

        The rows' q(z_n) use their observed entries only (as in the fit);
        observed entries are returned unchanged.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NumPy, or a Dask array (the result is then a lazy Dask array).
        return_std : bool, default=False
            Also return, per entry, the standard deviation of the missing
            value's posterior predictive, sqrt(Var_q[w~_j^T z~_n] + 1 / E[tau_j])
            with Var_q[w~_j^T z~_n] = tr(S_j E[z~_n z~_n^T]) + E[w_j]^T Sigma_n E[w_j]
            (the uncertainty of the loadings, the mean, the latent variables
            and the noise); 0 for observed entries.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
        std : ndarray of shape (n_samples, n_features)
            Only with ``return_std=True``.
        """
        X = self._checked(X)
        d = X.shape[1]
        out = self._map(impute_step, X, self._posterior["cov"], bool(return_std),
                        width=2 * d if return_std else d).astype(X.dtype, copy=False)
        return (out[:, :d], out[:, d:]) if return_std else out

    def score_samples(self, X: Any) -> Any:
        """Log-likelihood of each row's observed entries under the posterior-mean parameters.

        log N(x_O | mu_O, W_O W_O^T + Psi_OO), with W, mu the posterior means
        and Psi the noise variances (``noise_variance_``): the probabilistic
        PCA density (as scikit-learn's ``PCA.score_samples``, here with the
        missing entries marginalised), computed through the Woodbury
        identity from q(z_n) under those parameters, O(q^2) per observed entry.
        (The bound itself is ``lower_bound_``.)

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self._map(score_step, self._checked(X))

    def score(self, X: Any, y: Any = None) -> float:
        """The average of :meth:`score_samples` over the rows of X."""
        return float(np.mean(self.score_samples(X)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


class VBPCA(ClassNamePrefixFeaturesOutMixin, _BaseVBPCA):
    r"""Bayesian PCA by variational Bayes: it chooses its dimension and takes missing values.

    The model (Bishop (1999), "Variational principal components")::

        x_n = W z_n + mu + eps,   z_n ~ N(0, I_q),   eps ~ N(0, I / tau)
        W_jk ~ N(0, 1 / lambda_k)   (ARD: one precision per column of W)
        lambda_k ~ Gam(lambda_1, lambda_2),   tau ~ Gam(alpha_1, alpha_2),
        mu ~ N(mean_prior, I / mean_precision_prior)

    fitted by coordinate ascent on the ELBO over q(Z) q(W, mu) q(lambda) q(tau)
    (each row of W jointly with its entry of mu; see the user guide).  Every
    update is the exact maximiser in its factor, so the bound, recorded in
    ``elbo_``, never decreases.  Columns of W that the data do not support
    are driven to zero by their precision lambda_k (automatic relevance
    determination): ``n_effective_components_`` is the dimension the data
    chose, out of ``n_components``.

    **Missing values** (Ilin & Raiko (2010), JMLR 11, sec. 4): each row's
    q(z_n) is computed from its observed entries only, and each row of W from
    the rows that observe it; nothing is filled in before or during the fit.
    With no entry missing, the statistics of every iteration come in closed
    form from the data's second moments (one pass over X), so an iteration
    costs O(d^2 q + d q^3), independent of n_samples.

    Parameters
    ----------
    n_components : int, default=None
        q, the number of columns of W; None: n_features - 1.  ARD prunes the
        columns the data do not need, so q is an upper bound on the dimension.
    noise_type : {'isotropic', 'diagonal'}, default='isotropic'
        One noise precision tau shared by all columns (Bishop's model), or one
        per column tau_j (the noise of factor analysis), which suits features
        on different scales and is usually the better imputer.
    missing_values : float, default=np.nan
        The placeholder of a missing entry (as scikit-learn's imputers).
    max_iter : int, default=1000
        Maximum number of coordinate-ascent sweeps.
    tol : float, default=1e-3
        Convergence: the last sweep's gain of the bound is at most ``tol``
        times the gain since the first sweep.
    alpha_1 : float, default=1e-6
        Shape of the Gamma prior on the noise precision tau.
    alpha_2 : float, default=None
        Its rate; None: 1e-6 times the average variance of the observed
        columns (a rate is in the data's squared units: so defined, the fit
        does not depend on the data's scale).
    lambda_1 : float, default=1e-6
        Shape of the Gamma prior on each ARD precision lambda_k.
    lambda_2 : float, default=None
        Its rate; None: 1e-6 times the average column variance, as ``alpha_2``.
    mean_prior : array-like of shape (n_features,), default=None
        Prior mean of mu; None: the weighted means of the observed entries
        (as scikit-learn's ``BayesianGaussianMixture``).
    mean_precision_prior : float, default=None
        Prior precision beta of each entry of mu; None: 1e-6 divided by the
        average column variance.
    init_params : {'pca', 'random'}, default='pca'
        'pca': the loadings start from the SVD of (a sample of at most
        10 000 rows of) the centred data, missing entries at the column
        means, scaled to the probabilistic-PCA solution; 'random': Gaussian
        loadings.
    n_init : int, default=1
        Number of initialisations; the one with the largest bound is kept.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial sample (more than 10 000 rows) or random loadings.
    warm_start : bool, default=False
        Continue from the fitted posterior.
    elbo_per_update : bool, default=False
        Record the bound after each coordinate update ('q(W,mu)',
        'q(lambda)', 'q(tau)'), not only after the local step 'q(Z)'.
    verbose : int, default=0
        As :class:`GaussianMixture`: each start, every ``verbose_interval``-th
        iteration, and a progress bar where stderr is a terminal.
    verbose_interval : int, default=10

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Orthonormal directions of E[W], by decreasing variance (the left
        singular vectors of E[W]).
    singular_values_ : ndarray of shape (n_components,)
        The singular values s_k of E[W].
    explained_variance_ : ndarray of shape (n_components,)
        s_k^2: the variance the model's low-rank part carries along each
        component (the covariance of x is W W^T + Psi, Psi the noise; a
        pruned component carries none).
    explained_variance_ratio_ : ndarray of shape (n_components,)
        s_k^2 / (sum_k s_k^2 + tr Psi).
    noise_variance_ : float or ndarray of shape (n_features,)
        1 / E[tau], the noise variance: one (isotropic) or one per column
        (``noise_type='diagonal'``).
    mean_ : ndarray of shape (n_features,)
        E[mu].
    n_components_ : int
    n_effective_components_ : int
        Components whose variance s_k^2 exceeds 1e-3 x ``noise_variance_``:
        those ARD did not prune.
    ard_precision_ : ndarray of shape (n_components,)
        E[lambda_k], in the basis of ``loadings_``.
    noise_precision_ : float or ndarray of shape (n_features,)
        E[tau] (per column with ``noise_type='diagonal'``).
    loadings_ : ndarray of shape (n_features, n_components)
        E[W] in the model's own basis (columns pruned by ARD are near 0).
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
    >>> from varbayes import VBPCA
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 3)) @ rng.normal(size=(3, 10)) + 0.1 * rng.normal(size=(300, 10))
    >>> X[rng.random(X.shape) < 0.2] = np.nan
    >>> pca = VBPCA(n_components=8, random_state=0).fit(X)
    >>> pca.n_effective_components_
    3
    """

    def transform(self, X: Any) -> np.ndarray:
        """Posterior means of the latent variables, E[z_n], in the basis of ``components_``.

        Rows with missing entries are projected from their observed entries.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_components)
        """
        X = self._checked(X)
        Z = self._map(transform_step, X, self._posterior["cov"], self._rotation, width=self.n_components_)
        return Z.astype(X.dtype, copy=False)

    def inverse_transform(self, X: Any) -> np.ndarray:
        """E[x | z] = W z + mu for latent coordinates in the basis of ``components_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        Z = np.asarray(to_numpy(X), dtype=self.components_.dtype)
        if Z.ndim != 2 or Z.shape[1] != self.n_components_:
            raise ValueError(f"X must have shape (n_samples, {self.n_components_}), got {Z.shape}.")
        return Z @ (self.components_ * self.singular_values_[:, None].astype(Z.dtype)) + self.mean_

    @property
    def _n_features_out(self) -> int:
        return self.n_components_


class VBPCAImputer(OneToOneFeatureMixin, _BaseVBPCA):
    """Impute missing values by their posterior means under VB PCA.

    A transformer for scikit-learn pipelines (as ``IterativeImputer``):
    ``fit`` fits :class:`VBPCA`'s model to the observed entries, and
    ``transform`` returns X with every missing entry replaced by
    E[w_j^T z_n + mu_j] (see :meth:`impute`, which also gives posterior
    standard deviations).  The parameters and fitted attributes are
    :class:`VBPCA`'s.

    Examples
    --------
    >>> import numpy as np
    >>> from varbayes import VBPCAImputer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(300, 2)) @ rng.normal(size=(2, 8))
    >>> X_missing = X.copy()
    >>> X_missing[rng.random(X.shape) < 0.3] = np.nan
    >>> X_filled = VBPCAImputer(random_state=0).fit_transform(X_missing)
    >>> bool(np.abs(X_filled - X).max() < 0.05)
    True
    """

    def transform(self, X: Any) -> np.ndarray:
        """X with each missing entry replaced by its posterior mean.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        return self.impute(X)
