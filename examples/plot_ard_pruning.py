"""
ARD: the evidence prunes the coefficients the data do not need
==============================================================

Twenty features, four of which carry the signal.  With one prior precision
per coefficient (``ard=True``), :class:`varbayes.VBLinearRegression` learns
a posterior over each precision lambda_j; those of the sixteen noise columns
grow by orders of magnitude and pull their coefficients towards zero, while
the shared prior (``ard=False``) shrinks every coefficient alike.  No penalty
is chosen by cross-validation.  Without pruning (``threshold_lambda=np.inf``,
right panel) a few noise columns keep finite precisions and small non-zero
coefficients; with the default ``threshold_lambda`` (scikit-learn's 1e4),
the columns whose prior precision exceeds it are removed exactly where that
raises the bound on the evidence (their lambda_j is then ``inf``), and the
bound ends higher than without pruning.  Three noise columns stay in both:
by chance they correlate with y (t-statistics above 1) at this n.

See :doc:`/user_guide/linear_models`.
"""

import matplotlib.pyplot as plt
import numpy as np

from varbayes import VBLinearRegression

rng = np.random.default_rng(0)
X = rng.normal(size=(150, 20))
w = np.zeros(20)
w[[2, 7, 11, 16]] = [1.5, -2.0, 0.8, 1.0]
y = X @ w + 0.5 * rng.normal(size=150)

ard = VBLinearRegression(ard=True, max_iter=1000, tol=1e-8).fit(X, y)
unpruned = VBLinearRegression(ard=True, threshold_lambda=np.inf, max_iter=1000, tol=1e-8).fit(X, y)
shared = VBLinearRegression(max_iter=1000, tol=1e-8).fit(X, y)
kept = np.isfinite(ard.lambda_)

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
j = np.arange(20)
left.axhline(0, color="0.8", lw=1)
left.plot(j, w, "ks", mfc="none", ms=9, label="true")
left.plot(j, shared.coef_, "o", label=f"shared prior (ELBO {shared.lower_bound_:.3f})")
left.plot(j, unpruned.coef_, "+", ms=9, mew=1.5, label=f"ARD, no pruning (ELBO {unpruned.lower_bound_:.3f})")
left.plot(j, ard.coef_, "x", ms=8, mew=2, label=f"ARD, pruned (ELBO {ard.lower_bound_:.3f})")
left.set(xlabel="feature j", ylabel="posterior mean of w_j", title="coefficients")
left.legend(fontsize=8)
right.semilogy(j[kept], ard.lambda_[kept], "x", ms=8, mew=2, color="C2", label="ARD: E[lambda_j], kept")
right.semilogy(j[~kept], unpruned.lambda_[~kept], "+", ms=9, mew=1.5, color="C1",
               label="ARD without pruning: E[lambda_j] of the pruned")
right.axhline(shared.lambda_, color="C0", label="shared: E[lambda]")
right.set(xlabel="feature j", ylabel="posterior mean precision", title="prior precisions learnt")
right.legend(fontsize=8)
plt.show()
