"""
VB PCA chooses its dimension: the ARD spectrum
==============================================

Five latent dimensions in fifty, plus isotropic noise.  :class:`varbayes.VBPCA`
starts from ``n_components=None`` (49 columns of W) and learns a precision
lambda_k for each column (automatic relevance determination): the columns
the data do not need are driven to zero, and ``n_effective_components_``
counts the survivors.  Left: the variance each component carries (the
squared singular values of E[W]) beside scikit-learn's PCA eigenvalues,
whose noise floor never reaches zero, so PCA needs a separate rule to pick
the dimension.  Right: the learnt precisions, split by orders of magnitude.

See :doc:`/user_guide/pca`.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA

from varbayes import VBPCA

rng = np.random.default_rng(0)
W = rng.normal(size=(50, 5)) * np.linspace(3.0, 1.0, 5)
X = rng.normal(size=(1000, 5)) @ W.T + 0.5 * rng.normal(size=(1000, 50))

vb = VBPCA(random_state=0).fit(X)
pca = PCA().fit(X)
print(f"n_effective_components_ = {vb.n_effective_components_}, noise variance {vb.noise_variance_:.3f} (true 0.25)")

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
k = np.arange(1, 50)
left.semilogy(k, pca.explained_variance_[:49], "o", mfc="none", label="PCA eigenvalues")
left.semilogy(k, np.maximum(vb.explained_variance_, 1e-12), "x", mew=2, label="VB PCA: variance of each component")
left.axhline(vb.noise_variance_, color="0.5", ls="--", label="VB PCA noise variance")
left.set(xlabel="component", ylabel="variance", title=f"{vb.n_effective_components_} components survive ARD")
left.legend(fontsize=8)
right.semilogy(np.sort(vb.ard_precision_), "x", mew=2, color="C1")
right.set(xlabel="column of W (sorted)", ylabel="E[lambda_k]", title="ARD precisions")
plt.show()
