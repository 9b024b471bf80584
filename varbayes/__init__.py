"""varbayes: variational inference with the scikit-learn API.

Exact EM for Gaussian mixtures (GaussianMixture), coordinate-ascent
mean-field VB (BayesianGaussianMixture, VBLinearRegression,
VBLogisticRegression, VBPCA with missing values), an amortised, stochastic VAE (VAE),
one ELBO tracker shared by all of them, and one backend that runs the
arithmetic on NumPy (CPU) or CuPy (GPU); Dask arrays are fitted where their
blocks live.
"""

from ._elbo import ELBODecreaseWarning, ELBOTracker, plot_elbo
from ._execution import ClusterError
from .decomposition import VBPCA, VBMixturePCAImputer, VBPCAImputer
from .linear_model import VBLinearRegression, VBLogisticRegression
from .mixture import BayesianGaussianMixture, GaussianMixture
from .vae import VAE, DivergenceError

__version__ = "0.1.0"

__all__ = [
    "BayesianGaussianMixture",
    "ClusterError",
    "DivergenceError",
    "ELBODecreaseWarning",
    "ELBOTracker",
    "GaussianMixture",
    "VAE",
    "VBLinearRegression",
    "VBLogisticRegression",
    "VBPCA",
    "VBMixturePCAImputer",
    "VBPCAImputer",
    "plot_elbo",
    "__version__",
]
