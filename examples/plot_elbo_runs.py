"""
Comparing runs with plot_elbo
=============================

:func:`varbayes.plot_elbo` draws the ELBO trackers of several fitted
estimators on one figure.  Left: EM from four initialisation schemes on the
same data; the staircases climb to different heights, local optima of the
likelihood, which is why ``n_init`` keeps the best.  Right: VAEs with three
learning rates; their ELBO is a noisy Monte-Carlo estimate, so each curve is
drawn raw and smoothed.
"""

import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from varbayes import VAE, GaussianMixture, plot_elbo

# The VAEs below train for a fixed budget of epochs, on purpose.
warnings.filterwarnings("ignore", category=ConvergenceWarning)

rng = np.random.default_rng(4)
centres = rng.uniform(-6, 6, size=(6, 2))
X = np.concatenate([rng.normal(scale=0.8, size=(100, 2)) + c for c in centres])
inits = ["kmeans", "k-means++", "random", "random_from_data"]
ems = [GaussianMixture(n_components=6, init_params=i, random_state=1, max_iter=300).fit(X) for i in inits]
for i, gm in zip(inits, ems):
    print(f"EM from {i!r:20}: bound {gm.lower_bound_:.4f} after {gm.n_iter_} iterations, monotone {gm.elbo_.is_monotone()}")

X_digits = load_digits().data / 16.0
rates = [1e-3, 3e-3, 1e-2]
vaes = [VAE(n_components=4, hidden_layer_sizes=(64,), likelihood="bernoulli", learning_rate=lr,
            max_iter=60, tol=0.0, n_iter_no_change=1000, random_state=0).fit(X_digits) for lr in rates]

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
plot_elbo(*ems, labels=inits, ax=ax0)
ax0.set_title("EM: four initialisations")
# 'k-means++' and 'random_from_data' start from single points, whose first
# covariances are reg_covar * I: their first E-step bound (about -6e5 and
# -2e6 nats) would flatten every curve, so the default y-limits leave it out
# and mark it at the bottom edge with its value.
plot_elbo(*vaes, labels=[f"learning_rate={lr:g}" for lr in rates], ax=ax1)
ax1.set_title("VAE: three learning rates")
