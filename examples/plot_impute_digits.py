"""
Imputing digits with half of their pixels removed
=================================================

Half of the pixels of scikit-learn's 8 x 8 digits are removed at random.
:class:`varbayes.VBPCAImputer` fits VB PCA to the observed pixels only (each
image's latent posterior q(z_n) uses the pixels it has) and fills each
missing pixel with its posterior mean, with a posterior standard deviation
from ``impute(X, return_std=True)``.  Per-pixel noise
(``noise_type='diagonal'``) suits images whose border pixels hardly vary.

The digits are ten kinds of image: :class:`varbayes.VBMixturePCAImputer`
fits a subspace per cluster, and fills each pixel from the clusters the
image's observed pixels point to.

Rows: the original, what the models see (missing in red), VB PCA's
imputation, the mixture's, and the mixture's posterior standard deviation
of each filled pixel.

See :doc:`/user_guide/pca`.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.impute import SimpleImputer

from varbayes import VBMixturePCAImputer, VBPCAImputer

X = load_digits().data
rng = np.random.default_rng(0)
mask = rng.random(X.shape) < 0.5
X_missing = np.where(mask, np.nan, X)

imputer = VBPCAImputer(n_components=20, noise_type="diagonal", random_state=0).fit(X_missing)
linear = imputer.transform(X_missing)
mixture = VBMixturePCAImputer(n_clusters=10, n_components=5, random_state=0).fit(X_missing)
filled, std = mixture.impute(X_missing, return_std=True)


def rmse(imputed):
    return np.sqrt(np.mean((imputed - X)[mask] ** 2))


baseline = rmse(SimpleImputer().fit_transform(X_missing))
print(f"RMSE of the filled pixels (values 0-16): mixture of PCAs {rmse(filled):.2f}, "
      f"VB PCA {rmse(linear):.2f}, column means {baseline:.2f}")

shown = range(8)
fig, axes = plt.subplots(5, len(shown), figsize=(10, 6.6), layout="constrained")
seen = np.ma.masked_invalid(X_missing)
cmap = plt.get_cmap("gray_r").with_extremes(bad="tab:red")
for col, i in enumerate(shown):
    for row, (image, kw) in enumerate([(X[i], {}), (seen[i], {"cmap": cmap}), (linear[i], {}), (filled[i], {}),
                                       (np.where(mask[i], std[i], np.nan), {"cmap": "viridis", "vmax": std.max()})]):
        ax = axes[row, col]
        ax.imshow(image.reshape(8, 8), **({"cmap": "gray_r", "vmin": 0, "vmax": 16} | kw))
        ax.set_xticks([])
        ax.set_yticks([])
for ax, label in zip(axes[:, 0], ["original", "observed", "VB PCA", "mixture", "mixture std"]):
    ax.set_ylabel(label)
fig.suptitle(f"50% of pixels missing: RMSE {rmse(filled):.2f} for the mixture of PCAs, {rmse(linear):.2f} "
             f"for VB PCA (column means: {baseline:.2f})")
plt.show()
