"""scikit-learn's estimator checks on the VAE: all of them pass.

``score_samples`` is a Monte-Carlo estimate, but its noise is keyed by each
row's values (``Backend.keyed_normal``), so the subset- and order-invariance
checks hold exactly.
"""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from varbayes.vae import VAE


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(
    [
        VAE(hidden_layer_sizes=(8,), max_iter=5),
        VAE(hidden_layer_sizes=(), max_iter=3, dtype=None, activation="tanh"),
    ]
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
