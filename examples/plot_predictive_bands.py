"""
Predictive bands of Bayesian linear regression
==============================================

:class:`varbayes.VBLinearRegression` predicts with the Student-t posterior
predictive St(m^T x, (b/a)(1 + x^T V x), 2a): its spread is the noise plus
the uncertainty of the coefficients, which grows away from the training
inputs.  ``predict(X, return_std=True)`` returns that predictive's standard
deviation.  Here a cubic polynomial basis is fitted to 25 noisy points; the
band is two standard deviations, and about 95% of fresh draws from the
same curve fall inside it where the training data are.

See :doc:`/user_guide/linear_models`.
"""

import matplotlib.pyplot as plt
import numpy as np

from varbayes import VBLinearRegression


def features(x):
    return np.column_stack([x, x**2, x**3])


def truth(x):
    return np.sin(1.5 * x)


rng = np.random.default_rng(1)
x = rng.uniform(-2, 1, size=25)
y = truth(x) + 0.2 * rng.normal(size=25)
reg = VBLinearRegression().fit(features(x), y)

grid = np.linspace(-3, 2.5, 300)
mean, std = reg.predict(features(grid), return_std=True)
fresh = rng.uniform(-2, 1, size=2000)
f_mean, f_std = reg.predict(features(fresh), return_std=True)
covered = np.mean(np.abs(truth(fresh) + 0.2 * rng.normal(size=2000) - f_mean) < 2 * f_std)

fig, ax = plt.subplots(figsize=(7, 4), layout="constrained")
ax.fill_between(grid, mean - 2 * std, mean + 2 * std, alpha=0.3, label="predictive mean +- 2 std")
ax.plot(grid, mean, label="predictive mean")
ax.plot(grid, truth(grid), "k--", lw=1, label="truth")
ax.plot(x, y, "ko", ms=4, label="training data")
ax.set(xlabel="x", ylabel="y", ylim=(-4, 4),
       title=f"fresh draws inside the band on [-2, 1]: {100 * covered:.1f}%")
ax.legend(fontsize=8, loc="lower right")
plt.show()
