"""The CAVI model of a VB mixture of probabilistic PCAs, for the variational core.

The model (Tipping & Bishop (1999), "Mixtures of probabilistic principal
component analysers"; its variational treatment, Ghahramani & Beal (2000),
"Variational inference for Bayesian mixtures of factor analysers")::

    c_n            ~ Cat(pi),   pi ~ Dir(alpha_0) (or a truncated Dirichlet process)
    x_n | c_n = k  ~ VB PCA's model with its own W_k, mu_k, lambda_k, tau_k

with the factorisation q(pi) prod_n q(c_n) q(z_n | c_n) prod_k q(W_k, mu_k) q(lambda_k) q(tau_k).
Every component is :class:`._model.VBPCAModel`'s, in the same coordinates
(shifted by the data's centre c): its updates, given the statistics of the
rows weighted by r_nk = q(c_n = k), are that model's updates given weighted
rows, and its share of the bound is that model's bound of those rows.

The local step is exact in (q(z_n | c_n), q(c_n)) jointly: each component's
q(z_n | c_n = k) is VB PCA's (from the row's observed entries), l_nk its
share of the bound (:func:`._stats.row_bounds`), and then (Bishop (2006),
eq. 10.49 with l_nk in place of the Gaussian's expected log density)::

    r_nk  proportional to  exp(E[log pi_k] + l_nk)

The ELBO is sum_k (the component's bound of the rows weighted by r_.k)
+ sum_k N_k E[log pi_k] + H[q(c)] - KL(q(pi) || p(pi)).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.cluster import KMeans

from .._backend import get_backend
from .._execution import ChunkExecutor
from ..expfam import Gamma
from ..vi import Bound, ConjugateModel
from ._model import INIT_SAMPLE_ROWS, VBPCAModel, component_bound, sample_rows
from ._stats import row_bounds, weighted_stats

__all__ = ["MixtureStats", "MixturePCAModel", "cluster_moments", "mixture_posteriors", "mixture_step"]


@dataclass
class MixtureStats:
    """Additive statistics of q(Z, c): each component's :class:`PCAStats` of
    the rows weighted by s_n r_nk, and sum_n s_n H[q(c_n)]."""

    components: tuple
    entropy: float

    def __add__(self, other: "MixtureStats") -> "MixtureStats":
        return MixtureStats(tuple(a + b for a, b in zip(self.components, other.components)),
                            self.entropy + other.entropy)

    @property
    def counts(self) -> np.ndarray:
        """N_k = sum_n s_n r_nk."""
        return np.array([st.n_samples for st in self.components])

    @property
    def n_samples(self) -> float:
        return float(self.counts.sum())


def cluster_moments(components: list, gamma: Gamma, d: int) -> tuple[list, list, list, list]:
    """What the rows' steps need of each cluster's posterior: E[tau_k] and
    E[log tau_k] per column (d,), E[W~_k] and the covariances S_k of its rows."""
    taus = [np.broadcast_to(p["tau_shape"] / p["tau_rate"], (d,)) for p in components]
    log_taus = [np.broadcast_to(gamma.expected_log(p["tau_shape"], p["tau_rate"]), (d,)) for p in components]
    return taus, log_taus, [p["mean"] for p in components], [p["cov"] for p in components]


def mixture_posteriors(Xc: np.ndarray, center: np.ndarray, log_weights: np.ndarray, taus: list, log_taus: list,
                       means: list, covs: list) -> tuple[list, np.ndarray]:
    """Every component's q(z_n | c_n = k) for the rows of a chunk (as
    :func:`._stats.z_posterior`) and the responsibilities r (n, K)."""
    posteriors, shares = [], []
    for tau, log_tau, mean, cov in zip(taus, log_taus, means, covs):
        posterior, share = row_bounds(Xc, center, tau, log_tau, mean, cov)
        posteriors.append(posterior)
        shares.append(share)
    resp, _ = get_backend("cpu").softmax(np.stack(shares, axis=1) + log_weights, axis=1)
    return posteriors, resp


def mixture_step(Xc: np.ndarray, weights: Any, rows: slice, center: np.ndarray, log_weights: np.ndarray, taus: list,
                 log_taus: list, means: list, covs: list) -> MixtureStats:
    """A local step: q(z_n | c_n) and q(c_n) for each row of the chunk, and their weighted statistics."""
    s = np.ones(Xc.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64)
    posteriors, resp = mixture_posteriors(Xc, center, log_weights, taus, log_taus, means, covs)
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(resp > 0.0, resp * np.log(resp), 0.0)
    components = tuple(weighted_stats(p, s * resp[:, k]) for k, p in enumerate(posteriors))
    return MixtureStats(components, -float(s @ plogp.sum(axis=1)))


class MixturePCAModel(ConjugateModel):
    """Hooks of :func:`~varbayes.vi.fit_loop` for a VB mixture of PPCAs (see the module docstring).

    Parameters
    ----------
    component : VBPCAModel
        The model of every component (its priors, noise type and
        coordinates); incomplete-data form (``complete=False``), as the rows'
        weights change every sweep.
    n_clusters : int
    weights : Dirichlet or StickBreaking
        The prior over the mixture weights (:mod:`varbayes.expfam`).
    record_each_update : bool
    """

    local_name = "q(Z,c)"

    def __init__(self, component: VBPCAModel, n_clusters: int, weights: Any, record_each_update: bool) -> None:
        self.component = component
        self.n_clusters = int(n_clusters)
        self.weights = weights
        self.record_each_update = bool(record_each_update)
        self.be = get_backend("cpu")

    def local_params(self, params: dict) -> tuple:
        comp = self.component
        return (comp.center, self.weights.expected_log(self.be, params["weights"]),
                *cluster_moments(params["components"], comp.gamma, comp.d))

    local_step = staticmethod(mixture_step)

    def global_updates(self) -> list:
        return [("q(pi)", self.update_weights), ("q(W,mu)", self._each(self.component.update_loadings)),
                ("q(lambda)", self._each(self.component.update_ard)), ("q(tau)", self._each(self.component.update_noise))]

    def update_weights(self, params: dict, st: MixtureStats) -> tuple[dict, float]:
        """q(pi) from the expected counts N_k (Bishop (2006), eq. 10.58; or the sticks' Beta factors)."""
        return {**params, "weights": self.weights.update(self.be, st.counts)}, 0.0

    @staticmethod
    def _each(update: Any) -> Any:
        """A component's update applied to every component (they are independent given q(Z, c))."""
        def each(params: dict, st: MixtureStats) -> tuple[dict, float]:
            comps = [update(p, s)[0] for p, s in zip(params["components"], st.components)]
            return {**params, "components": comps}, 0.0
        return each

    def initialize(self, executor: Any, X: Any, sample_weight: Any, random_state: np.random.RandomState) -> dict:
        """k-means on a sample of at most 10 000 rows (missing entries at the column
        means) assigns the sample's rows; each component starts as VB PCA's
        initialisation from its cluster's rows (its mean at the cluster's
        mean of the observed entries), the weights from the clusters' sizes."""
        n, K, c = X.shape[0], self.n_clusters, self.component.center
        rows = sample_rows(n, max(INIT_SAMPLE_ROWS, K), random_state)  # (k-means needs a row per cluster)
        take = rows.size
        sample = np.asarray(executor.take(X, rows), dtype=np.float64)
        s = np.ones(take) if sample_weight is None else np.asarray(executor.take(sample_weight, rows), dtype=np.float64)
        observed = ~np.isnan(sample)
        filled = np.where(observed, sample, c)
        seed = random_state.randint(np.iinfo(np.int32).max)
        labels = KMeans(K, n_init=1, random_state=seed).fit(filled, sample_weight=s).labels_
        local = ChunkExecutor(take)
        comps = []
        for k in range(K):
            w = s * (labels == k)
            seen = w @ observed
            sums = w @ np.where(observed, sample, 0.0)
            offset = np.where(seen > 0, sums / np.where(seen > 0, seen, 1.0), c) - c
            comps.append(self.component.initialize(local, sample, w, random_state, offset=offset))
        counts = np.bincount(labels, weights=s, minlength=K)
        total = n if sample_weight is None else float(sample_weight.sum())
        counts *= total / max(float(counts.sum()), np.finfo(float).tiny)  # as if the sample were the data
        return {"components": comps, "weights": self.weights.update(self.be, counts)}

    def bound(self, params: dict, st: MixtureStats, step: str) -> Bound:
        """The complete ELBO per unit of weight (see the module docstring); the
        components' terms summed over components."""
        totals: dict = {}
        for p, s in zip(params["components"], st.components):
            for name, value in self.component.bound_terms(p, s).items():
                totals[name] = totals.get(name, 0.0) + value
        log_weights = self.weights.expected_log(self.be, params["weights"])
        totals["expected_log_weights"] = float(st.counts @ log_weights)
        totals["entropy_c"] = st.entropy
        totals["kl_weights"] = float(self.weights.kl(self.be, params["weights"]))
        n = st.n_samples
        value = component_bound(totals) + totals["expected_log_weights"] + totals["entropy_c"] - totals["kl_weights"]
        return Bound(value / n, {name: v / n for name, v in totals.items()})

