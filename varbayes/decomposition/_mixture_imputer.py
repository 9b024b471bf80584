"""A VB mixture of probabilistic PCAs as an imputer: varbayes.VBMixturePCAImputer."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.base import OneToOneFeatureMixin

from .._backend import get_backend
from .._execution import get_executor
from .._validation import check_option, check_scalar
from ..expfam import Gamma, weight_prior
from ._mixture import MixturePCAModel, cluster_moments
from ._model import VBPCAModel
from ._predict import mixture_impute_step, mixture_proba_step, mixture_score_step
from ._vbpca import PRUNE_RATIO, _BaseVBPCA, _chunk_rows, _recentred

__all__ = ["VBMixturePCAImputer"]

#: The largest default n_components: each cluster's q(z_n) costs O(q^3) per row.
DEFAULT_COMPONENTS = 10


class VBMixturePCAImputer(OneToOneFeatureMixin, _BaseVBPCA):
    r"""Impute missing values under a variational Bayesian mixture of probabilistic PCAs.

    The model (Tipping & Bishop (1999); by variational Bayes, Ghahramani &
    Beal (2000))::

        c_n ~ Cat(pi),   pi ~ Dir(weight_concentration_prior)   (or a Dirichlet process)
        x_n | c_n = k  =  W_k z_n + mu_k + eps,   z_n ~ N(0, I_q),   eps ~ N(0, Psi_k)

    each cluster with :class:`VBPCA`'s priors (an ARD precision per column of
    W_k, a Gamma noise precision, isotropic or per column), fitted by
    coordinate ascent on the ELBO over q(pi) prod_n q(c_n) q(z_n | c_n)
    prod_k q(W_k, mu_k) q(lambda_k) q(tau_k).  Every update is the exact
    maximiser in its factor, so the bound, recorded in ``elbo_``, never
    decreases.  Each row's q(z_n | c_n = k) and responsibilities
    r_nk = q(c_n = k) come from its observed entries only (Ilin & Raiko
    (2010)), and a missing entry is imputed by its posterior mean
    sum_k r_nk E_k[w_kj^T z_n + mu_kj].

    Where the data are clusters, each near its own low-dimensional subspace
    (images of a few kinds of objects, sensor data in a few regimes), a
    mixture imputes from the row's own cluster where one linear subspace
    (:class:`VBPCAImputer`) averages over all of them.  With
    ``n_clusters=1``, the same ``n_components`` and
    ``weight_concentration_prior_type='dirichlet_distribution'`` it is
    :class:`VBPCAImputer` (the same fit and bound; under the Dirichlet
    process the fit is the same and the bound lower by the sticks' terms).

    Parameters
    ----------
    n_clusters : int, default=5
        K, the number of mixture components: an upper bound, as in
        :class:`BayesianGaussianMixture`, but a loose one.  The weight prior
        can empty a cluster the data do not need, yet a start with too many
        clusters often splits a true one instead (see the user guide).
    n_components : int, default=None
        q, the columns of each cluster's W; None: min(n_features - 1, 10).
        ARD prunes the columns a cluster does not need.
    noise_type : {'isotropic', 'diagonal'}, default='isotropic'
        One noise precision per cluster, or one per cluster and column.
        Isotropic noise suits data whose features share a scale (pixels):
        per-column noise lets a cluster declare a feature it never varies
        in (a blank pixel) almost noiseless, and then any row that varies
        there is pushed out of it.
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, default='dirichlet_process'
        As :class:`BayesianGaussianMixture`.
    weight_concentration_prior : float, default=None
        The prior's concentration; None: 1 / n_clusters.
    missing_values : float, default=np.nan
    max_iter : int, default=1000
    tol : float, default=1e-3
        Convergence: the last sweep's gain of the bound is at most ``tol``
        times the gain since the first sweep.
    alpha_1, alpha_2, lambda_1, lambda_2, mean_prior, mean_precision_prior
        Each cluster's priors, as :class:`VBPCA`'s.
    init_params : {'pca', 'random'}, default='pca'
        Each cluster's loadings, after k-means on (a sample of at most
        10 000 rows of) the data with missing entries at the column means
        has assigned the rows: 'pca' from the SVD of its rows, 'random'
        Gaussian.
    n_init : int, default=1
        Number of initialisations; the one with the largest bound is kept.
    random_state : int, RandomState instance or None, default=None
        Seeds k-means, the initial sample and random loadings.
    warm_start : bool, default=False
        Continue from the fitted posterior.
    elbo_per_update : bool, default=False
        Record the bound after each coordinate update ('q(pi)', 'q(W,mu)',
        'q(lambda)', 'q(tau)'), not only after the local step 'q(Z,c)'.
    verbose : int, default=0
    verbose_interval : int, default=10

    Attributes
    ----------
    weights_ : ndarray of shape (n_clusters,)
        E[pi_k], renormalised over the clusters (under the Dirichlet process
        the sticks leave some mass beyond the last one).
    weight_concentration_prior_ : float
        The prior's concentration the fit used.
    weight_concentration_ : ndarray
        q(pi)'s parameters: the Dirichlet's (n_clusters,), or the sticks'
        Beta parameters (2, n_clusters).
    means_ : ndarray of shape (n_clusters, n_features)
        E[mu_k].
    loadings_ : ndarray of shape (n_clusters, n_features, n_components)
        E[W_k].
    noise_variance_ : ndarray of shape (n_clusters,) or (n_clusters, n_features)
        1 / E[tau_k], per cluster (and column, with ``noise_type='diagonal'``).
    ard_precision_ : ndarray of shape (n_clusters, n_components)
        E[lambda_k].
    n_components_ : int
    n_effective_components_ : ndarray of shape (n_clusters,)
        Per cluster, the columns of W_k whose variance exceeds 1e-3 x its
        mean noise variance (those ARD did not prune).
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
    >>> from varbayes import VBMixturePCAImputer
    >>> rng = np.random.default_rng(0)
    >>> lines = [rng.normal(size=(150, 1)) @ rng.normal(size=(1, 6)) + 10 * rng.normal(size=6) for _ in range(2)]
    >>> X = np.vstack(lines) + 0.05 * rng.normal(size=(300, 6))
    >>> X_missing = X.copy()
    >>> X_missing[rng.random(X.shape) < 0.2] = np.nan
    >>> imputer = VBMixturePCAImputer(n_clusters=2, random_state=0).fit(X_missing)
    >>> bool(np.abs(imputer.transform(X_missing) - X).max() < 0.5)
    True
    """

    _summarizes = False  # the rows' weights r_nk change every sweep

    def __init__(
        self,
        n_clusters: int = 5,
        n_components: int | None = None,
        *,
        noise_type: str = "isotropic",
        weight_concentration_prior_type: str = "dirichlet_process",
        weight_concentration_prior: float | None = None,
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
        super().__init__(
            n_components, noise_type=noise_type, missing_values=missing_values, max_iter=max_iter, tol=tol,
            alpha_1=alpha_1, alpha_2=alpha_2, lambda_1=lambda_1, lambda_2=lambda_2, mean_prior=mean_prior,
            mean_precision_prior=mean_precision_prior, init_params=init_params, n_init=n_init,
            random_state=random_state, warm_start=warm_start, elbo_per_update=elbo_per_update, verbose=verbose,
            verbose_interval=verbose_interval,
        )
        self.n_clusters = n_clusters
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior

    # ------------------------------------------------------------ the hooks of the shared fit
    def _check_parameters(self) -> None:
        check_scalar(self.n_clusters, "n_clusters", numbers.Integral, low=1)
        check_option(self.weight_concentration_prior_type, "weight_concentration_prior_type",
                     ("dirichlet_process", "dirichlet_distribution"))
        if self.weight_concentration_prior is not None:
            check_scalar(self.weight_concentration_prior, "weight_concentration_prior", numbers.Real, low=0.0,
                         include_low=False)
        super()._check_parameters()

    def _n_components(self, n_features: int) -> int:
        if self.n_components is None:
            return max(min(n_features - 1, DEFAULT_COMPONENTS), 1)
        return super()._n_components(n_features)

    def _structure(self, q: int) -> dict:
        return {**super()._structure(q), "n_clusters": int(self.n_clusters),
                "weight_concentration_prior_type": self.weight_concentration_prior_type}

    def _check_n_samples(self, n: int) -> None:
        if n < max(2, self.n_clusters):
            raise ValueError(f"n_samples={n} should be >= n_clusters={self.n_clusters} and >= 2: "
                             "pass fewer clusters, or more rows.")

    def _chunk_rows(self, d: int, q: int) -> int:
        return max(_chunk_rows(d, q) // int(self.n_clusters), 16)  # every cluster's q(z_n) at once

    def _model(self, component: VBPCAModel) -> MixturePCAModel:
        return MixturePCAModel(component, int(self.n_clusters), self._weight_prior(), self.elbo_per_update)

    def _warm_params(self, center: np.ndarray) -> dict:
        """The fitted posterior, each cluster's mean column moved to the new centre."""
        old = self._posterior
        return {"components": [_recentred(p, old["center"], center) for p in old["components"]],
                "weights": old["weights"]}

    def _attributes(self, model: MixturePCAModel, params: dict, dtype: Any) -> dict:
        comp, q = model.component, model.component.q
        comps = params["components"]
        noise = np.array([np.broadcast_to(p["tau_rate"] / p["tau_shape"], (comp.d,)) for p in comps])
        loadings = np.array([p["mean"][:, :q] for p in comps])
        variance = np.array([np.linalg.svd(W, compute_uv=False) ** 2 for W in loadings])
        weights, _ = model.weights.expected(model.be, params["weights"])
        return {
            "weights_": weights / weights.sum(),
            "weight_concentration_prior_": model.weights.concentration,
            "weight_concentration_": params["weights"],
            "means_": (comp.center + np.array([p["mean"][:, q] for p in comps])).astype(dtype),
            "loadings_": loadings,
            "noise_variance_": noise if comp.diagonal else noise[:, 0].copy(),
            "ard_precision_": np.array([p["lam_shape"] / p["lam_rate"] for p in comps]),
            "n_components_": q,
            "n_effective_components_": np.sum(variance > PRUNE_RATIO * noise.mean(axis=1)[:, None], axis=1),
            "_posterior": {**params, "center": comp.center},
        }

    # ------------------------------------------------------------ per-row outputs
    def _weight_prior(self) -> Any:
        """The prior over the weights that the parameters ask for (for a fit)."""
        K = int(self.n_clusters)
        concentration = 1.0 / K if self.weight_concentration_prior is None else float(self.weight_concentration_prior)
        return weight_prior(self.weight_concentration_prior_type, concentration)

    def _fitted_weight_prior(self) -> Any:
        """The prior the posterior was fitted under (the parameters may have been set since)."""
        return weight_prior(self._fitted_structure["weight_concentration_prior_type"],
                            self.weight_concentration_prior_)

    def _map(self, step: Any, X: Any, *broadcast: Any, width: int | None = None) -> Any:
        """``step`` over the rows of a validated X by the executor (NumPy, or a lazy Dask
        array), after the arguments ``broadcast`` (the clusters' parameters)."""
        executor = get_executor(X, self._chunk_rows(X.shape[1], self.n_components_))
        out = None if width is None else np.zeros((0, width))
        return executor.map_concat(step, np, X, *broadcast, out=out)

    def _local_args(self, d: int) -> tuple:
        """The fitted posterior as the fit's local step takes it (c, E[log pi], the clusters' moments)."""
        p = self._posterior
        return (p["center"], self._fitted_weight_prior().expected_log(get_backend("cpu"), p["weights"]),
                *cluster_moments(p["components"], Gamma(get_backend("cpu")), d))

    def impute(self, X: Any, return_std: bool = False) -> Any:
        """X with each missing entry replaced by its posterior mean sum_k r_nk E_k[w_kj^T z_n + mu_kj].

        Each row's responsibilities and q(z_n | c_n) use its observed entries
        only (as in the fit); observed entries are returned unchanged.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            NumPy, or a Dask array (the result is then a lazy Dask array).
        return_std : bool, default=False
            Also return, per entry, the standard deviation of the missing
            value's posterior predictive, a mixture over the clusters of
            :meth:`VBPCA.impute`'s predictives (weights r_nk); 0 for observed
            entries.

        Returns
        -------
        X_imputed : ndarray of shape (n_samples, n_features)
        X_std : ndarray of shape (n_samples, n_features)
            Only with ``return_std=True``.
        """
        X = self._checked(X)
        d = X.shape[1]
        out = self._map(mixture_impute_step, X, *self._local_args(d), bool(return_std),
                        width=2 * d if return_std else d).astype(X.dtype, copy=False)
        return (out[:, :d], out[:, d:]) if return_std else out

    def transform(self, X: Any) -> np.ndarray:
        """X with each missing entry replaced by its posterior mean (see :meth:`impute`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
        """
        return self.impute(X)

    def predict_proba(self, X: Any) -> Any:
        """The responsibilities r_nk = q(c_n = k) of each row, from its observed entries.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_clusters)
        """
        X = self._checked(X)
        return self._map(mixture_proba_step, X, *self._local_args(X.shape[1]), width=int(self.n_clusters))

    def predict(self, X: Any) -> Any:
        """The most responsible cluster of each row.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        return self.predict_proba(X).argmax(axis=1)

    def score_samples(self, X: Any) -> Any:
        """Log-likelihood of each row's observed entries under the posterior-mean parameters:
        log sum_k pi_k N(x_O | mu_k,O, W_k,O W_k,O^T + Psi_k,OO) with pi = ``weights_``
        (see :meth:`VBPCA.score_samples`).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        X = self._checked(X)
        center, _, taus, _, means, _ = self._local_args(X.shape[1])
        with np.errstate(divide="ignore"):  # an empty cluster's weight: log 0 = -inf
            log_weights = np.log(self.weights_)
        return self._map(mixture_score_step, X, center, log_weights, taus, means)
