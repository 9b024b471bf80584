"""
Choosing the number of components: complete ELBO versus BIC
===========================================================

The likelihood of a maximum-likelihood mixture keeps rising with the number
of components K, so EM needs a penalty to choose K; BIC is the usual one,
``BIC = -2 log p(X | theta_hat) + n_params log N``, and ``-BIC / 2N``
approximates the log evidence per sample.

The complete ELBO of :class:`varbayes.BayesianGaussianMixture` is a lower
bound on the log evidence itself, every constant included, so it can be
compared across K without any added penalty: the KL terms of the weights,
means and precisions from their priors are the Bayesian Occam's razor.  Here
both are drawn on the same scale, nats per sample, for data from four
clusters.

See :doc:`/user_guide/mean_field`.
"""

import matplotlib.pyplot as plt
import numpy as np

from varbayes import BayesianGaussianMixture, GaussianMixture

rng = np.random.default_rng(2)
centres = np.array([[0, 0], [6, 0], [0, 6], [6, 6]])
X = np.concatenate([rng.normal(size=(120, 2)) + c for c in centres])
N = X.shape[0]

ks = list(range(1, 9))
bic, elbo = [], []
for k in ks:
    gm = GaussianMixture(n_components=k, n_init=3, random_state=0, max_iter=300).fit(X)
    bic.append(gm.bic(X))
    # A symmetric Dirichlet with concentration 1 puts no pressure on the
    # weights, so the bound of each K is that model's evidence bound.
    vb = BayesianGaussianMixture(
        n_components=k,
        weight_concentration_prior_type="dirichlet_distribution",
        weight_concentration_prior=1.0,
        n_init=3,
        max_iter=500,
        random_state=0,
    ).fit(X)
    elbo.append(vb.lower_bound_)
bic, elbo = np.array(bic), np.array(elbo)

best_bic, best_elbo = ks[int(np.argmin(bic))], ks[int(np.argmax(elbo))]
print("K:                ", ks)
print("-BIC / 2N:        ", np.round(-bic / (2 * N), 3))
print("complete ELBO / N:", np.round(elbo, 3))
print(f"BIC chooses K={best_bic}, the complete ELBO chooses K={best_elbo}")

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4))
ax0.scatter(X[:, 0], X[:, 1], s=4)
ax0.set_title("data: four clusters")
ax0.set_aspect("equal")
ax1.plot(ks, -bic / (2 * N), "o-", label="EM: -BIC / 2N")
ax1.plot(ks, elbo, "s-", label="VB: complete ELBO per sample")
ax1.axvline(best_elbo, color="C1", ls=":")
ax1.axvline(best_bic, color="C0", ls="--", alpha=0.6)
ax1.set_xlabel("number of components K")
ax1.set_ylabel("nats per sample")
ax1.set_title("approximations to the log evidence")
ax1.legend()
fig.tight_layout()
