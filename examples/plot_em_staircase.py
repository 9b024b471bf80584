"""
The EM staircase
================

EM is coordinate ascent on the evidence lower bound (ELBO).  The E-step sets
q(Z) to the exact posterior of the labels, which closes the gap: the bound
*equals* the log-likelihood.  The M-step raises the bound with q held fixed;
the log-likelihood rises at least as much.  :class:`varbayes.GaussianMixture`
records the bound after both half-steps (labels ``'E'`` and ``'M'``), so its
tracker draws the staircase, and :meth:`~varbayes.ELBOTracker.is_monotone`
checks that no step went down.

See :doc:`/user_guide/em`.
"""

import matplotlib.pyplot as plt
import numpy as np

from varbayes import GaussianMixture

rng = np.random.default_rng(0)
centres = np.array([[0.0, 0.0], [4.0, 4.0], [0.0, 5.0], [5.0, -1.0]])
X = np.concatenate([rng.normal(scale=1.0, size=(150, 2)) + c for c in centres])

# A deliberately poor start (random responsibilities) gives a long staircase.
# reg_covar=0: the M-step is the exact maximiser of the bound, so every
# single record must be at least the one before.
gm = GaussianMixture(n_components=4, init_params="random", reg_covar=0.0, tol=1e-4, max_iter=500, random_state=3).fit(X)
tracker = gm.elbo_

print(f"{len(tracker)} records, steps {tracker.steps[:6]} ...")
print(f"monotone: {tracker.is_monotone()}  (decreases: {tracker.decreases()})")
print(f"final bound {gm.lower_bound_:.6f} = score(X) {gm.score(X):.6f}")
assert tracker.is_monotone()
assert np.isclose(gm.lower_bound_, gm.score(X))

# %%
# The staircase, and the gain of each half-step
# ---------------------------------------------
# Left: the bound after every E- and M-step.  Right: how much each half-step
# raised it.  Both kinds of step contribute, and none is negative.
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
tracker.plot(ax=ax0, label="ELBO")
ax0.set_title("ELBO after each E- and M-step")

# The first iterations, magnified: E-steps at whole iterations, M-steps half way.
ax0_in = ax0.inset_axes([0.45, 0.12, 0.5, 0.45])
tracker.plot(ax=ax0_in, step_legend=False)
ax0_in.set_xlim(0, 20)
ax0_in.set_ylim(tracker.values[2] - 0.02, tracker.values[40] + 0.02)
ax0_in.set(xlabel="", ylabel="", title="first 20 iterations")
ax0_in.get_legend().remove()
ax0_in.tick_params(labelsize="x-small")

x, unit = tracker.positions()
gains = np.diff(tracker.values)
steps = np.asarray(tracker.steps[1:])
colors = np.where(steps == "M", "C2", "C1")
ax1.bar(x[1:], gains, width=0.4, color=colors)
ax1.set_yscale("symlog", linthresh=1e-6)
ax1.axhline(0, color="k", lw=0.8)
ax1.set_xlabel(unit)
ax1.set_ylabel("gain (nats per sample)")
ax1.set_title("gain of each half-step (green: M-step, orange: E-step)")

# %%
# After each E-step the bound is the log-likelihood
# -------------------------------------------------
# The values recorded after the E-steps are the per-sample log-likelihood of
# the current parameters, so the E-step records alone are the EM
# log-likelihood curve: non-decreasing, and converged when the gains vanish.
e_values = tracker.select("E")
print("log-likelihood after the E-steps:", np.round(e_values[:5], 4), "...")
assert np.all(np.diff(e_values) >= -1e-12)
