"""varbayes: variational inference with the scikit-learn API.

Exact EM for Gaussian mixtures, one ELBO tracker shared by every estimator,
and one backend that runs the arithmetic on NumPy (CPU) or CuPy (GPU).
"""

from ._elbo import ELBODecreaseWarning, ELBOTracker, plot_elbo
from .mixture import BayesianGaussianMixture, GaussianMixture

__version__ = "0.1.0"

__all__ = [
    "BayesianGaussianMixture",
    "ELBODecreaseWarning",
    "ELBOTracker",
    "GaussianMixture",
    "plot_elbo",
    "__version__",
]
