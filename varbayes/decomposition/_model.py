"""The CAVI model of VB PCA for the variational core (Bishop (1999); Ilin & Raiko (2010)).

The model, in coordinates shifted by the fixed centre c (x' = x - c)::

    x'_nj | z_n, w_j, mu_j, tau  ~ N(w_j^T z_n + mu_j, 1 / tau_j)    (observed entries only)
    z_n                          ~ N(0, I_q)
    w_jk | lambda_k              ~ N(0, 1 / lambda_k)                 (ARD: one precision per column of W)
    mu_j                         ~ N(mu0_j - c_j, 1 / beta)
    lambda_k                     ~ Gam(lambda_1, lambda_2)
    tau_j                        ~ Gam(alpha_1, alpha_2)

with one noise precision tau_j = tau shared by all columns ('isotropic',
Bishop's model) or one per column ('diagonal', the noise of factor
analysis: Ghahramani & Beal (2000)), and the factorisation q(Z) q(W, mu) q(lambda) q(tau), with q(Z) = prod_n q(z_n)
and q(W, mu) = prod_j q(w~_j), w~_j = (w_j, mu_j): each row of the
loadings is Gaussian *jointly with its mean*, a (q + 1)-dimensional
factor.  Bishop and Ilin & Raiko separate q(W) and q(mu); keeping them
together costs nothing (z~_n = (z_n, 1) makes mu_j one more loading), its
update is the exact conditional of both, and it removes the slow zig-zag
between the loadings and the mean that the separate factors suffer.

Each update is the exact maximiser of the ELBO in its factor::

    q(w~_j):    P_j = diag(E[lambda], beta) + E[tau_j] zz_obs_j,
                m_j = P_j^{-1} (E[tau_j] zx_j + beta (mu0_j - c_j) e_{q+1})
    q(lambda_k): shape lambda_1 + d / 2, rate lambda_2 + sum_j E[w_jk^2] / 2
    q(tau):      shape alpha_1 + N_obs / 2, rate alpha_2 + E[SSE] / 2       (isotropic)
    q(tau_j):    shape alpha_1 + N_obs,j / 2, rate alpha_2 + E[SSE_j] / 2  (diagonal)

with E[SSE_j] = xx_j - 2 m_j^T zx_j + tr(E[w~_j w~_j^T] zz_obs_j), N_obs,j
the observed weight of column j, and SSE, N_obs their sums
(the statistics of :mod:`._stats`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.utils.extmath import svd_flip

from .._backend import get_backend
from ..expfam import Gamma
from ..linear_model._stats import _sums_step
from ..vi import Bound, ConjugateModel
from ._moments import moment_diagonals, moment_traces
from ._stats import LOG_2PI, PCAStats, _posteriors, row_step, summary_stats

__all__ = ["INIT_SAMPLE_ROWS", "VBPCAModel", "component_bound", "sample_rows"]


def sample_rows(n: int, size: int, random_state: np.random.RandomState) -> np.ndarray:
    """Sorted positions of at most ``size`` of n rows, drawn without
    replacement (all of them, without a draw, when n <= size)."""
    return np.arange(n) if n <= size else np.sort(random_state.choice(n, size, replace=False))


def component_bound(terms: dict) -> float:
    """E[log p(X_O | Z, W, mu, tau)] - KL(q(Z)) - KL(q(W, mu)) - KL(q(lambda)) - KL(q(tau))
    from the terms of :meth:`VBPCAModel.bound_terms` (totals or per unit of weight)."""
    return terms["expected_loglik"] - terms["kl_z"] - terms["kl_loadings"] - terms["kl_lambda"] - terms["kl_tau"]


#: Rows of the sample whose SVD starts the loadings (init_params='pca').
INIT_SAMPLE_ROWS = 10_000


class VBPCAModel(ConjugateModel):
    """Hooks of :func:`~varbayes.vi.fit_loop` for VB PCA (see the module docstring).

    Parameters
    ----------
    center : ndarray of shape (d,)
        c, the observed weighted column means.
    prior_shift : ndarray of shape (d,)
        mu0 - c, the prior mean of mu in shifted coordinates.
    n_components : int
    priors : tuple of float
        (alpha_1, alpha_2, lambda_1, lambda_2, beta).
    scale : float
        The data's average column variance: the scale of the starting
        loadings and noise.
    diagonal : bool
        One noise precision per column instead of one shared.
    complete : bool
        No entry is missing: the statistics come from the data's second
        moments (one pass) instead of a pass per iteration.
    init_params : {'pca', 'random'}
    record_each_update : bool
    """

    local_name = "q(Z)"

    def __init__(self, center: np.ndarray, prior_shift: np.ndarray, n_components: int, priors: tuple,
                 diagonal: bool, complete: bool, init_params: str, record_each_update: bool,
                 scale: float = 1.0) -> None:
        self.center = center
        self.prior_shift = prior_shift
        self.d, self.q = center.shape[0], int(n_components)
        self.a0, self.b0, self.l1, self.l2, self.beta = (float(v) for v in priors)
        self.diagonal = bool(diagonal)
        self.scale = float(scale)
        self.complete = bool(complete)
        self.init_params = init_params
        self.record_each_update = bool(record_each_update)
        self.gamma = Gamma(get_backend("cpu"))

    # -- the core's hooks ---------------------------------------------------------
    def summarize(self, executor: Any, X: Any, sample_weight: Any) -> Any:
        """Complete data: N, sum s x' and sum s x' x'^T about c, once (see :func:`summary_stats`)."""
        return executor.map_sum(_sums_step, X, sample_weight, self.center) if self.complete else None

    def summary_step(self, summary: Any, center: np.ndarray, tau: np.ndarray, loadings: np.ndarray,
                     cov_w: np.ndarray) -> PCAStats:
        return summary_stats(summary.n_samples, summary.total, summary.second, tau, loadings, cov_w)

    local_step = staticmethod(row_step)

    def expected_tau(self, params: dict) -> np.ndarray:
        """E[tau_j], one per column (d,)."""
        return np.broadcast_to(params["tau_shape"] / params["tau_rate"], (self.d,))

    def local_params(self, params: dict) -> tuple:
        return self.center, self.expected_tau(params), params["mean"], params["cov"]

    def global_updates(self) -> list:
        return [("q(W,mu)", self.update_loadings), ("q(lambda)", self.update_ard), ("q(tau)", self.update_noise)]

    def initialize(self, executor: Any, X: Any, sample_weight: Any, random_state: np.random.RandomState,
                   offset: np.ndarray | None = None) -> dict:
        """Loadings from the SVD of a sample (mean-imputed, about c), or random; the noise
        variance from the discarded spectrum; q(lambda) updated from the loadings.

        ``offset`` (d,): start mu at c + offset instead of c, the SVD about it
        and missing entries there (a mixture's component, from its cluster).
        """
        n, d, q = X.shape[0], self.d, self.q
        offset = np.zeros(d) if offset is None else offset
        if self.init_params == "pca":
            rows = sample_rows(n, INIT_SAMPLE_ROWS, random_state)
            take = rows.size
            sample = np.asarray(executor.take(X, rows), dtype=np.float64) - self.center - offset
            sample[np.isnan(sample)] = 0.0
            if sample_weight is not None:
                w = np.asarray(executor.take(sample_weight, rows), dtype=np.float64)
                sample *= np.sqrt(w / max(w.mean(), np.finfo(float).tiny))[:, None]
            u, sv, vt = np.linalg.svd(sample, full_matrices=False)
            _, vt = svd_flip(u, vt, u_based_decision=False)  # signs from the data, not the LAPACK build
            spectrum = np.zeros(d)
            spectrum[: sv.size] = sv**2 / take
            noise = max(float(np.median(spectrum)), 1e-6 * self.scale)  # the bulk of the spectrum: noise
            directions = np.zeros((d, q))
            k = min(q, vt.shape[0])
            directions[:, :k] = vt[:k].T
            # Eigenvalues below the Marchenko-Pastur edge of the noise are what the noise alone
            # gives a sample of this size: their columns start (almost) pruned.
            edge = noise * (1.0 + math.sqrt(d / take)) ** 2
            scale = np.sqrt(np.where(spectrum[:q] > edge, spectrum[:q] - noise, 1e-6 * noise))
            loadings = directions * scale
        else:  # random loadings of the data's scale (its average column variance, known already)
            noise = 0.5 * self.scale
            loadings = random_state.normal(size=(d, q)) * math.sqrt(self.scale / q)
        mean = np.concatenate([loadings, offset[:, None]], axis=1)
        n_eff = n if sample_weight is None else float(np.sum(sample_weight))
        cov = np.eye(q + 1) * (noise / max(n_eff, 1.0))  # the spread of loadings estimated from N rows
        half_count = 0.5 * n_eff * (1 if self.diagonal else d)
        shape = np.full(d if self.diagonal else 1, self.a0 + half_count)
        # As the posterior would be after squared errors of `noise` per entry (never below the prior's rate).
        params = {"mean": mean, "cov": cov, "tau_shape": shape, "tau_rate": np.full(shape.shape, self.b0 + half_count * noise),
                  "lam_shape": np.full(q, self.l1), "lam_rate": np.full(q, self.l2)}
        return self.update_ard(params, None)[0]

    # -- the coordinate updates -------------------------------------------------------
    def update_loadings(self, params: dict, st: PCAStats) -> tuple[dict, float]:
        """q(w~_j) for every row j of the loadings (Ilin & Raiko (2010), eqs. 46-47, jointly with mu_j)."""
        q, tau = self.q, self.expected_tau(params)
        prior = np.append(params["lam_shape"] / params["lam_rate"], self.beta)
        linear = tau[:, None] * st.zx
        linear[:, q] += self.beta * self.prior_shift
        if st.zz_obs.ndim == 2 and not self.diagonal:  # every row shares its precision: one factorisation
            cov, _, _ = _posteriors(tau[0] * st.zz_obs + np.diag(prior), np.zeros(q + 1))
            mean = linear @ cov
        else:
            cov, mean, _ = _posteriors(tau[:, None, None] * st.zz_obs + np.diag(prior), linear)
        return {**params, "mean": mean, "cov": cov}, 0.0

    def update_ard(self, params: dict, st: Any) -> tuple[dict, float]:
        """q(lambda_k) (Bishop (1999), eqs. 15-16)."""
        q = self.q
        ww = moment_diagonals(params["mean"], params["cov"])[:, :q]
        return {**params, "lam_shape": np.full(q, self.l1 + 0.5 * self.d), "lam_rate": self.l2 + 0.5 * ww.sum(axis=0)}, 0.0

    def update_noise(self, params: dict, st: PCAStats) -> tuple[dict, float]:
        """q(tau) (Bishop (1999), eqs. 17-18), or q(tau_j) per column; observed entries only."""
        n_obs, sse = self.expected_sse(params, st)
        if not self.diagonal:
            n_obs, sse = n_obs.sum(keepdims=True), sse.sum(keepdims=True)
        return {**params, "tau_shape": self.a0 + 0.5 * n_obs, "tau_rate": self.b0 + 0.5 * sse}, 0.0

    def expected_sse(self, params: dict, st: PCAStats) -> tuple[np.ndarray, np.ndarray]:
        """Per column: N_obs,j (the observed entries' weight) and
        E[SSE_j] = E[sum_n s_n o_nj (x'_nj - w~_j^T z~_n)^2]."""
        q, mean = self.q, params["mean"]
        fit = moment_traces(mean, params["cov"], st.zz_obs)
        sse = st.xx - 2.0 * np.einsum("ja,ja->j", mean, st.zx) + fit
        n_obs = np.broadcast_to(st.zz_obs[..., q, q], (self.d,)).copy()
        return n_obs, np.maximum(sse, 0.0)

    # -- the bound ----------------------------------------------------------------------
    def bound(self, params: dict, st: PCAStats, step: str) -> Bound:
        """The complete ELBO per unit of weight, every constant included:
        E[log p(X_obs | Z, W, mu, tau)] - KL(q(Z) || p(Z)) - KL(q(W, mu) || p(W, mu | lambda))
        - KL(q(lambda) || p(lambda)) - KL(q(tau) || p(tau))."""
        n = st.n_samples
        terms = {name: value / n for name, value in self.bound_terms(params, st).items()}
        return Bound(component_bound(terms), terms)

    def bound_terms(self, params: dict, st: PCAStats) -> dict:
        """The terms of :meth:`bound` as totals, not per unit of weight (a
        mixture's component may hold no weight)."""
        g, q, d = self.gamma, self.q, self.d
        a, b = params["tau_shape"], params["tau_rate"]
        n_obs, sse = self.expected_sse(params, st)
        log_tau = np.broadcast_to(g.expected_log(a, b), (d,))
        loglik = 0.5 * float(n_obs @ (log_tau - LOG_2PI)) - 0.5 * float(self.expected_tau(params) @ sse)
        kl_z = 0.5 * (st.trace_zz - st.log_det - st.n_samples * q)
        mean, cov = params["mean"], params["cov"]
        diag = moment_diagonals(mean, cov)
        lam, log_lam = params["lam_shape"] / params["lam_rate"], g.expected_log(params["lam_shape"], params["lam_rate"])
        mu_sq = diag[:, q] - 2.0 * mean[:, q] * self.prior_shift + self.prior_shift**2  # E[(mu_j - mu0_j)^2]
        log_det = 2.0 * np.log(np.diagonal(np.linalg.cholesky(cov), axis1=-2, axis2=-1)).sum()
        log_det = float(log_det) * (d if cov.ndim == 2 else 1)
        kl_w = 0.5 * (float(np.sum(diag[:, :q] @ lam)) + self.beta * float(mu_sq.sum())
                      - d * float(np.sum(log_lam)) - d * math.log(self.beta) - log_det - d * (q + 1))
        kl_lambda = float(np.sum(g.kl(params["lam_shape"], params["lam_rate"], self.l1, self.l2)))
        kl_tau = float(np.sum(g.kl(a, b, self.a0, self.b0)))
        return {"expected_loglik": loglik, "kl_z": kl_z, "kl_loadings": kl_w, "kl_lambda": kl_lambda, "kl_tau": kl_tau}
