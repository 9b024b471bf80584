"""Coordinate-ascent mean-field VB for a Gaussian mixture: varbayes.BayesianGaussianMixture."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.utils import check_random_state

from .._backend import Backend, NotPositiveDefiniteError, get_backend, to_numpy
from .._validation import check_array_param, check_option, check_scalar
from ..expfam import NormalWishart, student_log_pdf, weight_prior
from ..vi import Bound
from ._base import BaseMixture, MixtureModel
from ._covariance import Covariance, get_covariance, residuals, split_centers
from ._stats import EStepTerms, GaussianStats, e_step_terms, initial_stats, pieces

LOG_2PI = math.log(2.0 * math.pi)
WEIGHT_PRIORS = ("dirichlet_process", "dirichlet_distribution")

#: A component is counted as effective when it explains at least this many
#: samples in expectation (sum_n r_nk >= 1).
EFFECTIVE_COUNT_THRESHOLD = 1.0


class BayesianGaussianMixture(BaseMixture):
    r"""Bayesian Gaussian mixture fitted by coordinate-ascent variational inference.

    A drop-in for :class:`sklearn.mixture.BayesianGaussianMixture` (same
    parameters, defaults and fitted attributes, plus ``device``,
    ``chunk_size``, ``elbo_per_update`` and the tracker ``elbo_``) that
    reports the complete evidence lower bound, constants included, and whose
    :meth:`score_samples` is the posterior predictive density.

    **Model** (Bishop (2006), sec. 10.2; Blei, Kucukelbir & McAuliffe (2017), sec. 3).
    z_n | pi ~ Cat(pi), x_n | z_n = k ~ N(mu_k, Lambda_k^{-1}), and

    * weights: pi ~ Dir(alpha_0, ..., alpha_0) ('dirichlet_distribution'), or
      the stick-breaking Dirichlet process pi_k = v_k prod_{j<k} (1 - v_j),
      v_k ~ Beta(1, gamma_0) ('dirichlet_process'), alpha_0 or gamma_0 being
      ``weight_concentration_prior``.  For the process, q is truncated at K
      components: q(z_n = k) = 0 for k > K and the factors of the components
      beyond K equal their priors, so the bound is a bound on the evidence of
      the infinite mixture (as scikit-learn's parametrisation);
    * means: mu_k | Lambda_k ~ N(m_0, (beta_0 Lambda_k)^{-1}), with m_0 =
      ``mean_prior`` and beta_0 = ``mean_precision_prior``;
    * precisions, with nu_0 = ``degrees_of_freedom_prior`` and W_0^{-1} =
      ``covariance_prior``:

      - 'full': Lambda_k ~ Wishart(W_0, nu_0), one per component;
      - 'tied': one Lambda ~ Wishart(W_0, nu_0) shared by all components
        (each mean still has its own beta_k);
      - 'diag': lambda_kj ~ Gamma(nu_0 / 2, rate W_0j^{-1} / 2) independently
        per component and dimension (a Normal-Gamma per dimension);
      - 'spherical': lambda_k ~ Gamma(d nu_0 / 2, rate d W_0^{-1} / 2), one
        precision per component shared by the d dimensions.

    The mean-field posterior q(Z) q(pi) prod_k q(mu_k, Lambda_k) keeps these
    conjugate forms (Bishop eqs. 10.49, 10.58, 10.60-10.63).  Where this
    differs from scikit-learn: for 'tied' the shared Wishart is updated
    exactly, nu = nu_0 + N and W^{-1} = W_0^{-1} + the scatter and mean-prior
    terms summed over all components (scikit-learn averages the update over
    components: nu_0 + N / K and the summed terms divided by K);
    for 'diag' and 'spherical', ``E[log |Lambda_k|]`` and the bound use the Gamma
    expectations and normalisers of the model above (scikit-learn uses the
    Wishart's multivariate digamma for them).  For 'full' the updates are
    scikit-learn's, so both give the same parameters from the same start.

    **Bound.**  ``elbo_`` and ``lower_bound_`` hold the complete ELBO per
    sample (Bishop eqs. 10.70-10.77 and their analogues), every constant
    included, so it is a true lower bound on log p(X) / n, comparable across
    ``n_components`` and with other libraries.  Its terms are in
    ``elbo_.terms``: 'expected_loglik' E[log p(X | Z, mu, Lambda)],
    'expected_log_pz' E[log p(Z | pi)], 'kl_weights' KL(q(pi) || p(pi)),
    'kl_gaussian' KL(q(mu, Lambda) || p(mu, Lambda)) and 'entropy_z' H[q(Z)];
    ELBO = expected_loglik + expected_log_pz - kl_weights - kl_gaussian + entropy_z.

    **Coordinate ascent.**  One iteration updates q(pi), then q(mu, Lambda),
    then q(Z); each is the exact maximiser of the bound in its factor, so no
    update lowers it.  With ``elbo_per_update=True`` the bound is recorded
    after each of the three updates (steps 'q(pi)', 'q(mu,Lambda)', 'q(Z)'),
    otherwise once per iteration ('iter').  ``reg_covar = c > 0`` adds
    c N_k I to each scatter, as scikit-learn does; the q(mu, Lambda) update then
    maximises the bound minus c/2 sum_k N_k E[tr Lambda_k], and may lower the
    bound itself by at most c/2 sum_k N_k (E_old[tr Lambda_k] - E_new[tr Lambda_k]):
    the tracker records that allowance.  With ``reg_covar=0`` nothing
    decreases beyond rounding.

    **Pruning.**  With a small ``weight_concentration_prior`` the bound is
    higher when superfluous components are emptied: their expected counts and
    weights go to about 0 (Bishop's Fig. 10.6).  ``n_effective_components_``
    counts the components with an expected count sum_n r_nk of at least 1.

    **Prediction.**  :meth:`predict_proba` returns the variational
    responsibilities q(z_n = k).  :meth:`score_samples` returns the log
    posterior predictive density under q, a mixture of Student-t
    distributions (Bishop eq. 10.81 for 'full' and 'tied'; a product of
    univariate ts for 'diag'; for 'spherical' an isotropic d-dimensional t
    with d nu_k degrees of freedom), plus, for the Dirichlet process, the predictive of a new
    component (its prior; under 'tied' with the shared posterior precision)
    weighted by the stick mass left beyond K.  This is not scikit-learn's plug-in density
    (its issue #10148).  :meth:`sample` draws from the same predictive.

    Parameters
    ----------
    n_components : int, default=1
        Number of components K (the truncation level for the process).
    covariance_type : {'full', 'tied', 'diag', 'spherical'}, default='full'
    tol : float, default=1e-3
        Convergence threshold on the relative change of the bound:
        ``|L_t - L_{t-1}| <= tol |L_t - L_1|`` for t >= 2 (the last gain
        relative to the gain since the first iteration), or a step that did
        not raise the bound by more than float64 resolves; see
        :class:`GaussianMixture`.
    reg_covar : float, default=1e-6
        Added (times N_k) to the diagonal of each scatter; see above.
    max_iter : int, default=100
        Number of CAVI iterations per initialisation; 0 keeps the initial
        parameters.
    n_init : int, default=1
    init_params : {'kmeans', 'k-means++', 'random', 'random_from_data'}, default='kmeans'
    weight_concentration_prior_type : {'dirichlet_process', 'dirichlet_distribution'}, default='dirichlet_process'
    weight_concentration_prior : float, default=None
        alpha_0 or gamma_0 (> 0); 1 / n_components when None.
    mean_precision_prior : float, default=None
        beta_0 (> 0); 1 when None.
    mean_prior : array-like of shape (n_features,), default=None
        m_0; the mean of X when None.
    degrees_of_freedom_prior : float, default=None
        nu_0; n_features when None.  Must be > n_features - 1 for 'full' and
        'tied' (a proper Wishart), > 0 for 'diag' and 'spherical'.
    covariance_prior : float or array-like, default=None
        W_0^{-1}: (d, d) positive definite for 'full' and 'tied', (d,)
        positive for 'diag', a positive float for 'spherical'.  When None,
        the empirical covariance of X (its diagonal, or the mean of that, as
        scikit-learn); if that is singular (a constant or collinear feature),
        reg_covar I is added so the prior stays proper.
    random_state : int, RandomState instance or None, default=None
    warm_start : bool, default=False
        As :class:`GaussianMixture`; ``weight_concentration_prior_type`` must
        not change either.
    verbose : int, default=0
        As :class:`GaussianMixture`.
    verbose_interval : int, default=10
    device : {'auto', 'cpu', 'gpu'}, default='auto'
        'auto' uses the GPU for CuPy input (or a CUDA tensor).  Fitted
        attributes are NumPy arrays on the host whatever the device, unless
        scikit-learn's array-API dispatch is on (then in X's namespace).
    chunk_size : int, default=None
        Rows per chunk of the passes over X (bounded memory); automatic when None.
    elbo_per_update : bool, default=False
        Record the bound after every factor update instead of once per
        iteration.

    learning_method : {'batch', 'online'}, default='batch'
        'online' is stochastic variational inference (Hoffman et al. 2013):
        minibatch statistics scaled to the data set, averaged into running
        statistics with weight rho_t, on which the natural parameters of
        q(pi) and q(mu, Lambda) depend linearly, so the average is the
        natural-gradient step.  See :class:`GaussianMixture` for this and the
        next four parameters.
    learning_offset : float, default=10.0
    learning_decay : float, default=0.6
    batch_size : int, default=1024
    total_samples : float, default=1e6

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        E[pi_k] (normalised to sum to 1 for the process, as scikit-learn).
    weight_concentration_ : ndarray or tuple of two ndarrays
        alpha_k of q(pi), or the Beta parameters (a_k, b_k) of q(v_k).
    mean_precision_ : ndarray of shape (n_components,)
        beta_k.
    means_ : ndarray of shape (n_components, n_features)
        m_k = E[mu_k].
    degrees_of_freedom_ : ndarray of shape (n_components,) or float
        nu_k (one value for 'tied').
    covariances_ : ndarray
        W_k^{-1} / nu_k = E[Lambda_k]^{-1}, in the covariance type's shape.
    precisions_ : ndarray
        E[Lambda_k] = nu_k W_k.
    precisions_cholesky_ : ndarray
        Cholesky factors of ``precisions_``.
    n_effective_components_ : int
        Components with sum_n r_nk >= 1 on the training data.
    expected_counts_ : ndarray of shape (n_components,)
        sum_n r_nk on the training data.
    converged_ : bool
    n_iter_ : int
    lower_bound_ : float
        The complete ELBO per sample of the returned q.
    lower_bounds_ : list of float
    elbo_ : ELBOTracker
    weight_concentration_prior_, mean_precision_prior_, mean_prior_,
    degrees_of_freedom_prior_, covariance_prior_ :
        The priors used.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)

    Examples
    --------
    >>> import numpy as np
    >>> from varbayes import BayesianGaussianMixture
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 8])
    >>> bgm = BayesianGaussianMixture(n_components=6, weight_concentration_prior=1e-3, n_init=3,
    ...                               random_state=0, max_iter=500).fit(X)
    >>> bgm.n_effective_components_  # (a single start can split a cluster: n_init keeps the best bound)
    2
    """

    def __init__(
        self,
        *,
        n_components: int = 1,
        covariance_type: str = "full",
        tol: float = 1e-3,
        reg_covar: float = 1e-6,
        max_iter: int = 100,
        n_init: int = 1,
        init_params: str = "kmeans",
        weight_concentration_prior_type: str = "dirichlet_process",
        weight_concentration_prior: float | None = None,
        mean_precision_prior: float | None = None,
        mean_prior: Any = None,
        degrees_of_freedom_prior: float | None = None,
        covariance_prior: Any = None,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        verbose_interval: int = 10,
        device: str = "auto",
        chunk_size: int | None = None,
        elbo_per_update: bool = False,
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
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.elbo_per_update = elbo_per_update

    # ------------------------------------------------------------ validation
    @property
    def _is_process(self) -> bool:
        return self.weight_concentration_prior_type == "dirichlet_process"

    def _check_model_parameters(self, n_features: int, dtype: np.dtype) -> None:
        d = n_features
        check_option(self.weight_concentration_prior_type, "weight_concentration_prior_type", WEIGHT_PRIORS)
        check_option(self.elbo_per_update, "elbo_per_update", (False, True))
        positive = dict(low=0.0, include_low=False, allow_none=True)
        check_scalar(self.weight_concentration_prior, "weight_concentration_prior", numbers.Real, **positive)
        check_scalar(self.mean_precision_prior, "mean_precision_prior", numbers.Real, **positive)
        wishart = self.covariance_type in ("full", "tied")
        check_scalar(self.degrees_of_freedom_prior, "degrees_of_freedom_prior", numbers.Real, allow_none=True)
        low = d - 1.0 if wishart else 0.0
        if self.degrees_of_freedom_prior is not None and not self.degrees_of_freedom_prior > low:
            raise ValueError(
                f"The parameter 'degrees_of_freedom_prior' should be greater than {low:g}, but got "
                f"{self.degrees_of_freedom_prior:.3f}."
                + (" (n_features - 1, for a proper Wishart prior)" if wishart else "")
            )
        if self.mean_prior is not None:
            check_array_param(self.mean_prior, "mean_prior", (d,), np.float64, label="means")
        if self.covariance_prior is not None:
            cov = get_covariance(self.covariance_type, 1, d)
            shape = {"full": (d, d), "tied": (d, d), "diag": (d,), "spherical": ()}[self.covariance_type]
            label = f"{self.covariance_type} covariance_prior"
            prior = check_array_param(self.covariance_prior, "covariance_prior", shape, np.float64, label=label)
            try:
                single = np.broadcast_to(prior, cov.shape).copy()
                if wishart and not np.allclose(prior, prior.T):
                    raise NotPositiveDefiniteError("not symmetric")
                cov.precision_cholesky(get_backend("cpu"), single)
            except NotPositiveDefiniteError:
                sk_kind = "symmetric, positive-definite" if wishart else "positive"
                kind = "symmetric positive definite" if wishart else "positive"
                raise ValueError(f"'{self.covariance_type} precision' should be {sk_kind}: the parameter "
                                 f"'covariance_prior' must be {kind} for covariance_type="
                                 f"{self.covariance_type!r}, got {self.covariance_prior!r}.") from None

    def _structure(self) -> dict:
        return {**super()._structure(), "weight_concentration_prior_type": self.weight_concentration_prior_type}

    # ------------------------------------------------------------ the model
    def _model(self, be: Backend, cov: Covariance, executor: Any, X: Any, sample_weight: Any) -> "CAVI":
        """The model with this fit's priors (defaults from X, weighted by ``sample_weight``)."""
        xp = be.xp
        d = X.shape[1]
        alpha0 = 1.0 / self.n_components if self.weight_concentration_prior is None else self.weight_concentration_prior
        beta0 = 1.0 if self.mean_precision_prior is None else self.mean_precision_prior
        nu0 = float(d) if self.degrees_of_freedom_prior is None else self.degrees_of_freedom_prior
        data = _data_moments(be, cov, executor, X, sample_weight)
        m0 = data["mean"] if self.mean_prior is None else be.asarray(self.mean_prior, dtype=xp.float64)
        if self.covariance_prior is not None:
            W0inv = be.asarray(self.covariance_prior, dtype=xp.float64)
        else:
            W0inv = data["covariance"]
        try:
            cov.precision_cholesky(be, xp.array(xp.broadcast_to(W0inv, cov.shape)))
        except NotPositiveDefiniteError:
            if self.covariance_prior is not None or self.reg_covar == 0:
                raise ValueError(
                    "The default covariance_prior (the empirical covariance of X) is singular: "
                    "some features are constant or collinear. Pass covariance_prior, set "
                    "reg_covar > 0, or remove those features."
                ) from None
            W0inv = cov.add_diagonal(xp, W0inv[None] if cov.name in ("full",) else W0inv, self.reg_covar)
            W0inv = W0inv[0] if cov.name == "full" else W0inv
        priors = Priors(float(alpha0), float(beta0), float(nu0), m0, W0inv)
        return CAVI(be, cov, self.reg_covar, self.init_params, X.dtype, priors,
                    self.weight_concentration_prior_type, self.elbo_per_update)

    def _fitted_model(self, be: Backend, cov: Covariance, dtype: Any) -> "CAVI":
        f64 = be.xp.float64
        priors = Priors(self.weight_concentration_prior_, self.mean_precision_prior_, self.degrees_of_freedom_prior_,
                        be.asarray(self.mean_prior_, dtype=f64), be.asarray(self.covariance_prior_, dtype=f64))
        return CAVI(be, cov, self.reg_covar, self.init_params, dtype, priors,
                    self.weight_concentration_prior_type, self.elbo_per_update)

    # ------------------------------------------------------------ attributes
    def _params_to_attributes(self, model: "CAVI", params: dict, stats: GaussianStats, dtype: np.dtype) -> dict:
        be, cov = model.be, model.cov
        xp = be.xp
        host = lambda a: np.asarray(be.to_host(a), dtype=dtype)  # noqa: E731
        dof = params["dof"]
        expected_weights, _ = model.weights.expected(be, params["weight_concentration"])
        wc = host(params["weight_concentration"])
        prec_chol = cov.scale(xp, params["prec_chol_W"], xp.sqrt(dof))
        counts = np.asarray(be.to_host(stats.counts), dtype=np.float64)
        pr = model.priors
        prior_cov = be.to_host(pr.W0inv)
        return {
            "weights_": host(expected_weights / expected_weights.sum()),
            "weight_concentration_": (wc[0], wc[1]) if self._is_process else wc,
            "mean_precision_": host(params["mean_precision"]),
            "means_": host(params["means"]),
            "degrees_of_freedom_": host(dof) if cov.name != "tied" else float(be.to_host(dof)),
            "covariances_": host(cov.scale(xp, params["scale_inv"], 1.0 / dof)),
            "precisions_": host(cov.precisions(xp, prec_chol)),
            "precisions_cholesky_": host(prec_chol),
            "expected_counts_": counts,
            "n_effective_components_": int(np.sum(counts >= EFFECTIVE_COUNT_THRESHOLD)),
            "weight_concentration_prior_": pr.alpha0,
            "mean_precision_prior_": pr.beta0,
            "mean_prior_": host(pr.m0),
            "degrees_of_freedom_prior_": pr.nu0,
            "covariance_prior_": np.asarray(prior_cov, dtype=dtype)[()],  # a scalar for spherical, as sklearn
        }

    def _attributes_to_params(self, model: "CAVI") -> dict:
        be, cov = model.be, model.cov
        xp = be.xp
        f64 = xp.float64
        wc = self.weight_concentration_
        wc = xp.stack([be.asarray(wc[0], f64), be.asarray(wc[1], f64)]) if self._is_process else be.asarray(wc, f64)
        dof = be.asarray(self.degrees_of_freedom_, dtype=f64)
        scale_inv = cov.scale(xp, be.asarray(self.covariances_, dtype=f64), dof)
        # The factor of W from the fitted factor of E[Lambda] = nu W, not from
        # refactoring W^{-1}: that sum may not be resolvable (see
        # Covariance.precision_cholesky_plus_outer).
        prec_chol_W = cov.scale(xp, be.asarray(self.precisions_cholesky_, dtype=f64), 1.0 / xp.sqrt(dof))
        return {
            "weight_concentration": wc,
            "mean_precision": be.asarray(self.mean_precision_, dtype=f64),
            "means": be.asarray(self.means_, dtype=f64),
            "dof": dof,
            "scale_inv": scale_inv,
            "prec_chol_W": prec_chol_W,
        }

    # ------------------------------------------------------------ prediction
    def score_samples(self, X: Any) -> np.ndarray:
        """Log posterior predictive density of each sample under q.

        log p(x | X_train) ~= log sum_k E[pi_k] St(x | m_k, L_k, eta_k)
        (Bishop (2006), eq. 10.81), plus the prior predictive weighted by the
        stick mass beyond K for the Dirichlet process.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,)
        """
        return self._score_samples(X, "score_samples")

    def _score_samples(self, X: Any, method: str) -> Any:
        return self._prediction_pass(X, _predictive_step, lambda model, params: (model.predictive_terms(params),),
                                     method)

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw samples from the posterior predictive distribution.

        Each sample picks component k with probability E[pi_k] (for the
        Dirichlet process, index ``n_components`` stands for a new component
        beyond K, with the stick mass left there) and is drawn from
        that component's Student-t predictive.

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        y : ndarray of shape (n_samples,)
            Both in the fit's array namespace when it ran under array-API
            dispatch.
        """
        self._check_sample_count(n_samples)
        rng = check_random_state(self.random_state)
        be = get_backend("cpu")
        K, d = self.means_.shape
        cov = get_covariance(self.covariance_type, K, d)
        model = self._fitted_model(be, cov, np.float64)
        params = self._attributes_to_params(model)
        weights, rest = model.weights.expected(be, params["weight_concentration"])
        comps = [(cov, params)]
        probs = list(weights)
        if self._is_process:
            one = get_covariance(self.covariance_type, 1, d)
            comps.append((one, model.new_component_params(one, params)))
            probs.append(float(rest))
        probs = np.asarray(probs) / np.sum(probs)
        counts = rng.multinomial(n_samples, probs)
        draws, labels, label = [], [], 0
        for c, p in comps:
            eta, s = c.student(p["dof"])
            eta = np.broadcast_to(eta, p["mean_precision"].shape)
            W = c.to_full(c.precisions(np, p["prec_chol_W"]))  # W_k, dense
            for k in range(p["means"].shape[0]):
                n_k = counts[label]
                factor2 = float(np.broadcast_to(s, eta.shape)[k]) * p["mean_precision"][k] / (1.0 + p["mean_precision"][k])
                scale = np.linalg.inv(factor2 * W[k])  # covariance of the t's scale
                if c.factorized:
                    z = rng.standard_t(eta[k], size=(n_k, d)) * np.sqrt(np.diag(scale))
                else:
                    u = rng.chisquare(eta[k], size=(n_k, 1)) / eta[k]
                    z = rng.standard_normal((n_k, d)) @ np.linalg.cholesky(scale).T / np.sqrt(u)
                draws.append(p["means"][k] + z)
                labels.append(np.full(n_k, label))
                label += 1
        X = np.concatenate(draws).astype(to_numpy(self.means_).dtype, copy=False)
        return self._in_fitted_namespace(X, np.concatenate(labels))


def _data_moments(be: Backend, cov: Covariance, executor: Any, X: Any, sample_weight: Any) -> dict:
    """The (weighted) mean of X and its unbiased covariance (its diagonal, or
    the mean of that, by covariance type), in two passes: the default priors."""
    xp = be.xp
    d = X.shape[1]
    kind = "full" if cov.name in ("full", "tied") else cov.name
    single = get_covariance(kind, 1, d)
    ones = lambda Xc, rows: xp.ones((Xc.shape[0], 1), dtype=Xc.dtype)  # noqa: E731
    stats = initial_stats(executor, be, single, X, sample_weight, ones)
    mean = stats.mean(stats.counts)
    scatter = stats.scatter(xp, single, mean)
    return {"mean": mean[0], "covariance": scatter[0] / max(stats.n_samples - 1, 1)}


@dataclass(frozen=True)
class Priors:
    """The priors of a fit: alpha_0 (or gamma_0), beta_0, nu_0, m_0 (d,) and
    W_0^{-1} in the shape of one component's covariance."""

    alpha0: float
    beta0: float
    nu0: float
    m0: Any
    W0inv: Any


class CAVI(MixtureModel):
    """Coordinate-ascent mean-field VB for the variational core: q(Z) is the
    local factor (the E-step), q(pi) and q(mu, Lambda) the global updates,
    each the exact maximiser of the complete ELBO in its factor.  The factors'
    algebra is :mod:`varbayes.expfam`'s (weights, Normal-Wishart); this class
    maps the mixture's statistics to it.
    """

    def __init__(self, be: Backend, cov: Covariance, reg_covar: float, init_params: str, dtype: Any,
                 priors: Priors, weight_prior_type: str, per_update: bool) -> None:
        super().__init__(be, cov, reg_covar, init_params, dtype)
        xp = be.xp
        self.priors = priors
        self.weights = weight_prior(weight_prior_type, priors.alpha0)
        self.record_each_update = bool(per_update)
        self.local_name = "q(Z)" if per_update else "iter"
        W0inv = xp.array(xp.broadcast_to(priors.W0inv, cov.shape))
        self.gaussian = NormalWishart(be, cov, priors.beta0, priors.m0, W0inv, priors.nu0)

    # -- updates ---------------------------------------------------------------
    def initial_params(self, stats: GaussianStats | None) -> dict:
        params = {"weight_concentration": self.weights.update(self.be, self.counts(stats))}
        params.update(self.gaussians(stats))
        return params

    def global_updates(self) -> list:
        return [("q(pi)", self.update_weights), ("q(mu,Lambda)", self.update_gaussians)]

    def update_weights(self, params: dict, stats: GaussianStats) -> tuple[dict, float]:
        """q(pi): alpha_k = alpha_0 + N_k (Bishop eq. 10.58), or the sticks'
        a_k = 1 + N_k, b_k = gamma_0 + sum_{j>k} N_j."""
        return {**params, "weight_concentration": self.weights.update(self.be, self.counts(stats))}, 0.0

    def update_gaussians(self, params: dict, stats: GaussianStats) -> tuple[dict, float]:
        """q(mu, Lambda); reg_covar permits the bound to fall (see ``reg_allowance``)."""
        new = {**params, **self.gaussians(stats)}
        allowance = self.reg_allowance(
            stats, self.gaussian.expected_precision_chol(params), self.gaussian.expected_precision_chol(new)
        )
        return new, allowance

    def gaussians(self, stats: GaussianStats) -> dict:
        """q(mu_k, Lambda_k) from the statistics, reg_covar N_k added to each scatter."""
        xp, cov = self.be.xp, self.cov
        nk = self.counts(stats)
        xbar = stats.mean(nk)
        scatter = cov.add_diagonal(xp, stats.scatter(xp, cov, xbar), self.reg_covar * cov.pooled(nk))
        return self.gaussian.posterior(nk, xbar, scatter)

    # -- expectations ----------------------------------------------------------
    def e_step_terms(self, params: dict) -> EStepTerms:
        """log rho_nk = E[log pi_k] + E[log |Lambda_k|]/2 - d/2 log 2 pi - d/(2 beta_k)
        - nu_k/2 (x_n - m_k)^T W_k (x_n - m_k)   (Bishop eqs. 10.46, 10.64-10.66)."""
        be, cov = self.be, self.cov
        d = cov.d
        log_const = (
            self.weights.expected_log(be, params["weight_concentration"])
            + 0.5 * self.gaussian.expected_log_det(params)
            - 0.5 * d * LOG_2PI
            - 0.5 * d / params["mean_precision"]
        )
        prec_chol = self.gaussian.expected_precision_chol(params)
        return e_step_terms(be, cov, params["means"], prec_chol, log_const, self.dtype)

    # -- the bound -------------------------------------------------------------
    def bound(self, params: dict, stats: GaussianStats, step: str) -> Bound:
        """The complete ELBO per sample (Bishop eqs. 10.70-10.77 and analogues), with
        a bound on the rounding of its trace term (see ``MixtureModel.trace_error``)."""
        be, cov = self.be, self.cov
        xp = be.xp
        wc = params["weight_concentration"]
        terms = {
            # E[log p(X | Z, mu, Lambda)] (eq. 10.71), the scatter taken about m_k.
            "expected_loglik": self.gaussian.expected_loglik(params, stats.counts, stats.scatter(xp, cov, params["means"])),
            # E[log p(Z | pi)] (eq. 10.72).
            "expected_log_pz": xp.sum(stats.counts * self.weights.expected_log(be, wc)),
            "kl_weights": self.weights.kl(be, wc),
            "kl_gaussian": self.gaussian.kl(params),
            "entropy_z": stats.entropy,
        }
        terms = {k: be.scalar(v) / stats.n_samples for k, v in terms.items()}
        value = (
            terms["expected_loglik"]
            + terms["expected_log_pz"]
            - terms["kl_weights"]
            - terms["kl_gaussian"]
            + terms["entropy_z"]
        )
        return Bound(value, terms, error=self.trace_error(stats, self.gaussian.expected_precision_chol(params)))

    # -- the predictive ----------------------------------------------------------
    def new_component_params(self, one: Covariance, params: dict) -> dict:
        return self.gaussian.prior_component(one, params)

    def predictive_terms(self, params: dict) -> list:
        """[(covariance, Student-t constants)] of the K components, and of a new
        component weighted by the stick mass beyond K (the Dirichlet process)."""
        be = self.be
        xp = be.xp
        split = lambda centres, dtype: split_centers(xp, centres, dtype)  # noqa: E731
        weights, rest = self.weights.expected(be, params["weight_concentration"])
        parts = [(self.cov, self.gaussian.student_terms(self.cov, params, xp.log(weights), self.dtype, split))]
        if be.scalar(rest) > 0:
            one = get_covariance(self.cov.name, 1, self.cov.d)
            new = self.new_component_params(one, params)
            parts.append((one, self.gaussian.student_terms(one, new, xp.log(rest)[None], self.dtype, split)))
        return parts


def _predictive_step(Xc: Any, weights: Any, rows: slice, be: Backend, parts: list) -> Any:
    """A prediction step: the log posterior predictive density of each row."""
    xp = be.xp
    split = pieces(be, Xc, sum(c.K for c, _ in parts))
    if split is not None:
        return split.map_concat(_predictive_step, xp, Xc, be, parts, start=rows.start)
    log_p = xp.concatenate([student_log_pdf(xp, c, residuals(xp, Xc, *t["centers"]), t) for c, t in parts], axis=1)
    return be.logsumexp(log_p, axis=1)
