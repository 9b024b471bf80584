"""
Streaming a memmap: online EM and stochastic VI against the batch fit
=====================================================================

A data set written to disk as an ``np.memmap`` is fitted without ever being
loaded: ``partial_fit`` is fed one slice of rows at a time (each slice is
read from disk only then), and each call takes one stochastic step per
minibatch.  The minibatch bound estimates are noisy; the batch fit's bound is
the line they approach.

See :doc:`/user_guide/stochastic`.
"""

import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from varbayes import BayesianGaussianMixture, GaussianMixture

# 120 000 rows x 8 features, written in pieces: 7.7 MB, twice the executor's
# 4 MiB chunk budget, and never in memory as a whole.
n, d = 120_000, 8
path = Path(tempfile.mkdtemp()) / "stream.dat"
X = np.memmap(path, dtype=np.float64, mode="w+", shape=(n, d))
rng = np.random.default_rng(0)
centers = rng.normal(scale=4.0, size=(4, d))
for lo in range(0, n, 20_000):
    X[lo : lo + 20_000] = centers[rng.integers(4, size=20_000)] + rng.normal(size=(20_000, d))
X.flush()
X = np.memmap(path, dtype=np.float64, mode="r", shape=(n, d))

fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
for cls, color in [(GaussianMixture, "C0"), (BayesianGaussianMixture, "C1")]:
    kw = dict(n_components=4, init_params="k-means++", random_state=0)
    stream = cls(**kw, batch_size=1000, total_samples=n)
    for lo in range(0, n, 10_000):
        stream.partial_fit(X[lo : lo + 10_000])
    batch = cls(**kw).fit(X)
    estimates = stream.elbo_.values
    ax.plot(np.arange(1, len(estimates) + 1), estimates, ".", ms=3, color=color, alpha=0.5,
            label=f"{cls.__name__}, minibatch estimates")
    ax.axhline(batch.lower_bound_, color=color, lw=1, label=f"{cls.__name__}, batch fit")
    print(f"{cls.__name__}: streamed score {stream.score(X):.4f}, batch score {batch.score(X):.4f}")
ax.set_ylim(batch.lower_bound_ - 1.0, batch.lower_bound_ + 0.5)
ax.set_xlabel("minibatch (1000 rows)")
ax.set_ylabel("ELBO (nats per sample)")
ax.legend(fontsize="small")
plt.show()
