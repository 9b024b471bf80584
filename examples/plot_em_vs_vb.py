"""
EM versus variational Bayes: pruning superfluous components
===========================================================

Given more components than the data need, maximum likelihood (EM) uses all of
them: splitting a cluster never lowers the likelihood.  The variational
Bayesian mixture puts a Dirichlet prior on the weights; with a small
concentration the complete ELBO is *higher* when the surplus components are
emptied, so their weights fall to about zero.  The ellipses show each
component's covariance (two standard deviations), their opacity its weight.

See :doc:`/user_guide/mean_field`.
"""

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Ellipse

from varbayes import BayesianGaussianMixture, GaussianMixture

rng = np.random.default_rng(1)
X = np.concatenate(
    [
        rng.multivariate_normal([0, 0], [[1.0, 0.6], [0.6, 1.0]], size=200),
        rng.multivariate_normal([5, 3], [[0.6, -0.3], [-0.3, 0.8]], size=200),
        rng.multivariate_normal([1, 6], [[1.5, 0.0], [0.0, 0.3]], size=200),
    ]
)
K = 8
em = GaussianMixture(n_components=K, random_state=0, max_iter=200).fit(X)
vb = BayesianGaussianMixture(
    n_components=K,
    weight_concentration_prior_type="dirichlet_distribution",
    weight_concentration_prior=1e-3,
    max_iter=500,
    random_state=0,
).fit(X)

print("EM weights:", np.round(em.weights_, 3))
print("VB weights:", np.round(vb.weights_, 3))
print(f"VB effective components: {vb.n_effective_components_} of {K}")


def draw(ax, model, title):
    ax.scatter(X[:, 0], X[:, 1], s=4, c="0.6")
    for w, mean, cov in zip(model.weights_, model.means_, model.covariances_):
        if w < 0.01:  # an emptied component: its factor is back at the prior
            continue
        vals, vecs = np.linalg.eigh(cov)
        angle = np.degrees(np.arctan2(vecs[1, -1], vecs[0, -1]))
        width, height = 2 * 2 * np.sqrt(vals[::-1])
        alpha = float(np.clip(w * K / 2, 0.05, 0.8))
        ax.add_patch(Ellipse(mean, width, height, angle=angle, color="C3", alpha=alpha))
        ax.plot(*mean, "k+", alpha=max(alpha, 0.2))
    ax.set_title(title)
    ax.set_aspect("equal")


fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
draw(axes[0], em, f"EM: all {K} components used")
draw(axes[1], vb, f"VB: {vb.n_effective_components_} effective components")
idx = np.arange(K)
axes[2].bar(idx - 0.2, np.sort(em.weights_)[::-1], width=0.4, label="EM")
axes[2].bar(idx + 0.2, np.sort(vb.weights_)[::-1], width=0.4, label="VB")
axes[2].set_yscale("log")
axes[2].set_xlabel("component (sorted by weight)")
axes[2].set_ylabel("weight")
axes[2].set_title("mixture weights")
axes[2].legend()
fig.tight_layout()

# %%
# Both fits are ascent algorithms: their trackers are monotone.
assert em.elbo_.is_monotone() and vb.elbo_.is_monotone()
assert vb.n_effective_components_ == 3
