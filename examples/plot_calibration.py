"""
Calibrated probabilities from Bayesian logistic regression
==========================================================

:class:`varbayes.VBLogisticRegression` predicts with the moderated output
sigmoid(mu / sqrt(1 + pi s^2 / 8)): the probit approximation of the
posterior mean of sigmoid(w^T x), which pulls an uncertain prediction
towards 1/2.  On a small training set (many features, few rows) the plug-in
probabilities of a maximum-likelihood fit are overconfident; the moderated
ones sit closer to the observed frequencies.  A reliability diagram on
held-out data shows both.

See :doc:`/user_guide/linear_models`.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression

from varbayes import VBLogisticRegression

rng = np.random.default_rng(0)
d = 20
w = rng.normal(scale=0.7, size=d)


def draw(n):
    X = rng.normal(size=(n, d))
    return X, (rng.random(n) < 1 / (1 + np.exp(-(X @ w)))).astype(int)


X, y = draw(80)
X_test, y_test = draw(20000)
vb = VBLogisticRegression().fit(X, y)
ml = LogisticRegression(C=1e4, max_iter=5000).fit(X, y)  # nearly unpenalised: the plug-in

bins = np.linspace(0, 1, 11)
fig, ax = plt.subplots(figsize=(5, 5), layout="constrained")
ax.plot([0, 1], [0, 1], color="0.7", lw=1)
for label, model in [("VB, moderated", vb), ("maximum likelihood, plug-in", ml)]:
    p = model.predict_proba(X_test)[:, 1]
    which = np.clip(np.digitize(p, bins) - 1, 0, 9)
    centres = [p[which == b].mean() for b in range(10) if np.any(which == b)]
    freq = [y_test[which == b].mean() for b in range(10) if np.any(which == b)]
    ece = sum(np.mean(which == b) * abs(p[which == b].mean() - y_test[which == b].mean())
              for b in range(10) if np.any(which == b))
    ax.plot(centres, freq, "o-", label=f"{label} (ECE {ece:.3f})")
ax.set(xlabel="predicted probability", ylabel="observed frequency", title="reliability on held-out data")
ax.legend(fontsize=8)
plt.show()
