"""q(mu_k, Lambda_k): the Normal-Wishart (or its Normal-Gamma analogue) of a
Gaussian component, for each covariance type.

    mu_k | Lambda_k ~ N(m_k, (beta_k Lambda_k)^{-1}),   Lambda_k ~ W(W_k, nu_k)

with the precision's structure (and, for 'diag' and 'spherical', its Gamma
form) given by a covariance-type object of :mod:`varbayes.mixture._covariance`,
which supplies the per-type constants (log-normaliser and E[log |Lambda|] as
functions of nu, the Student-t degrees of freedom).  Everything here is
written once for all four types: the conjugate update from statistics
(Bishop (2006), eqs. 10.60-10.63), the expectations the E-step needs
(eqs. 10.64-10.65), the expected log-likelihood and the KL divergence from
the prior that the complete ELBO needs (eqs. 10.71, 10.74, 10.77), and the
Student-t posterior predictive (eqs. 10.81-10.82).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["NormalWishart", "student_log_pdf"]

LOG_2PI = math.log(2.0 * math.pi)


class NormalWishart:
    """The prior N(m_0, (beta_0 Lambda)^{-1}) W(W_0, nu_0) of every component, and
    the algebra of its posteriors.

    Parameters
    ----------
    be : Backend
    cov : Covariance
        The covariance type (structure of Lambda, shapes, per-type constants).
    beta0, nu0 : float
    m0 : array of shape (d,)
    W0inv : array
        W_0^{-1} broadcast to the covariance type's shape.
    """

    def __init__(self, be: Any, cov: Any, beta0: float, m0: Any, W0inv: Any, nu0: float) -> None:
        self.be, self.cov = be, cov
        self.beta0, self.m0, self.W0inv, self.nu0 = float(beta0), m0, W0inv, float(nu0)
        self.P0 = cov.precision_cholesky(be, W0inv)

    # -- the conjugate update ------------------------------------------------------
    def posterior(self, counts: Any, xbar: Any, scatter: Any) -> dict:
        """q(mu, Lambda) from counts N_k, means xbar_k and scatters about them
        (Bishop eqs. 10.60-10.63).  The factor of W is formed by rank-one
        updates (``precision_cholesky_plus_outer``), so a component far from
        m_0 does not swamp the prior's small directions."""
        be, cov = self.be, self.cov
        xp = be.xp
        beta = self.beta0 + counts
        means = (self.beta0 * self.m0 + counts[:, None] * xbar) / beta[:, None]
        diff = xbar - self.m0
        shrink = self.beta0 * counts / beta
        return {
            "mean_precision": beta,
            "means": means,
            "dof": self.nu0 + cov.pooled(counts),
            "scale_inv": self.W0inv + scatter + cov.weighted_outer(xp, diff, diff, shrink),
            "prec_chol_W": cov.precision_cholesky_plus_outer(be, self.W0inv + scatter, diff, shrink),
        }

    # -- expectations ----------------------------------------------------------------
    def expected_log_det(self, params: dict) -> Any:
        """E[log |Lambda_k|] = log |W_k| + f(nu_k) (Bishop eq. 10.65 and analogues)."""
        xp = self.be.xp
        return 2.0 * self.cov.log_det(xp, params["prec_chol_W"]) + self.cov.expected_log_det_const(self.be, params["dof"])

    def expected_precision_chol(self, params: dict) -> Any:
        """The Cholesky factor of E[Lambda_k] = nu_k W_k."""
        xp = self.be.xp
        return self.cov.scale(xp, params["prec_chol_W"], xp.sqrt(params["dof"]))

    def expected_loglik(self, params: dict, counts: Any, scatter: Any) -> Any:
        """sum_k E[log N(x | mu_k, Lambda_k^{-1})] weighted by the responsibilities,
        from counts and the scatters about m_k (Bishop eq. 10.71)."""
        xp, cov = self.be.xp, self.cov
        d = cov.d
        e_log_det = self.expected_log_det(params)
        return 0.5 * xp.sum(counts * (e_log_det - d / params["mean_precision"] - d * LOG_2PI)) - 0.5 * cov.trace_product(
            xp, self.expected_precision_chol(params), scatter
        )

    def kl(self, params: dict) -> Any:
        """KL(q(mu, Lambda) || p(mu, Lambda)): E_q(Lambda) of the Gaussians' KL plus
        the precisions' KL (Bishop eqs. 10.74, 10.77 and analogues)."""
        be, cov = self.be, self.cov
        xp = be.xp
        d = cov.d
        beta, dof, beta0, nu0 = params["mean_precision"], params["dof"], self.beta0, self.nu0
        log_det_W = 2.0 * cov.log_det(xp, params["prec_chol_W"])
        e_log_det = log_det_W + cov.expected_log_det_const(be, dof)
        chol = self.expected_precision_chol(params)
        diff = params["means"] - self.m0
        kl_means = 0.5 * xp.sum(d * beta0 / beta - d + d * xp.log(beta / beta0)) + 0.5 * cov.trace_product(
            xp, chol, cov.weighted_outer(xp, diff, diff, xp.full_like(beta, beta0))
        )
        log_b = -0.5 * dof * log_det_W + cov.log_norm_const(be, dof)
        log_b0 = -0.5 * nu0 * 2.0 * cov.log_det(xp, self.P0) + cov.log_norm_const(be, xp.asarray(nu0))
        kl_precisions = xp.sum(log_b - log_b0 + 0.5 * (dof - nu0) * e_log_det - 0.5 * dof * d) + 0.5 * cov.trace_product(
            xp, chol, self.W0inv
        )
        return kl_means + kl_precisions

    # -- the predictive ------------------------------------------------------------
    def prior_component(self, one: Any, params: dict) -> dict:
        """q of a component beyond K, as a one-component posterior: its factors
        equal the prior, except that under 'tied' its precision is the shared
        Lambda, whose q is the posterior (for the stick mass beyond K)."""
        be = self.be
        xp = be.xp
        f64 = xp.float64
        common = {"mean_precision": xp.full(1, self.beta0, dtype=f64), "means": xp.asarray(self.m0, dtype=f64)[None]}
        if one.name == "tied":
            return {**common, "dof": params["dof"], "prec_chol_W": params["prec_chol_W"]}
        return {
            **common,
            "dof": xp.full(1, self.nu0, dtype=f64),
            "prec_chol_W": one.precision_cholesky(be, xp.asarray(self.W0inv[:1], dtype=f64)),  # one component's W_0^{-1}
        }

    def student_terms(self, cov: Any, params: dict, log_weight: Any, dtype: Any, split: Any) -> dict:
        """Per-component constants of the Student-t predictive (Bishop eqs. 10.81-10.82);
        ``split(centres, dtype)`` gives the centres in the dtype of the data."""
        be = self.be
        xp = be.xp
        d = cov.d
        beta = params["mean_precision"]
        eta, s = cov.student(params["dof"])
        eta = xp.broadcast_to(xp.asarray(eta, dtype=xp.float64), beta.shape)
        # Precision of component k's t: s_k beta_k / (1 + beta_k) W_k = factor_k^2 W_k.
        factor = xp.sqrt(s * beta / (1.0 + beta))
        group = 1 if cov.factorized else d
        gammaln = be.gammaln
        log_norm = (
            (d / group) * (gammaln(0.5 * (eta + group)) - gammaln(0.5 * eta) - 0.5 * group * xp.log(eta * math.pi))
            + cov.log_det(xp, params["prec_chol_W"])
            + d * xp.log(factor)
        )
        return {
            "centers": split(params["means"], dtype),
            "prec_chol": params["prec_chol_W"].astype(dtype),
            "factor": factor.astype(dtype),
            "eta": eta.astype(dtype),
            "log_const": (log_weight + log_norm).astype(dtype),
        }


def student_log_pdf(xp: Any, cov: Any, R: Any, t: dict) -> Any:
    """log w_k + log St(x_n | component k), shape (rows, K), from the residuals
    ``R`` about the components' means."""
    eta = t["eta"]
    if cov.factorized:
        # d univariate ts: each squared residual scaled by its precision.
        scale = (t["prec_chol"] * t["factor"][:, None]) ** 2 / eta[:, None]
        q = xp.log1p(R.squared * scale[:, :, None]).sum(axis=1)
        power = 0.5 * (eta + 1.0)
    else:
        q = xp.log1p(cov.mahalanobis(xp, R, t["prec_chol"]) * (t["factor"] ** 2 / eta)[:, None])
        power = 0.5 * (eta + cov.d)
    return (t["log_const"][:, None] - power[:, None] * q).T
