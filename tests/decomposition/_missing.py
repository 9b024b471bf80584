"""Entries removed at random for the decomposition tests, keeping every row and column observed."""

import numpy as np


def remove_entries(X, fraction, seed=1):
    """X with about ``fraction`` of its entries set to NaN (no row or column left empty), and the mask."""
    rng = np.random.default_rng(seed)
    X = X.copy()
    mask = rng.random(X.shape) < fraction
    n, d = X.shape
    mask[np.arange(n), np.arange(n) % d] = False  # no row all missing
    mask[np.arange(d) % n, np.arange(d)] = False  # no column all missing
    X[mask] = np.nan
    return X, mask
