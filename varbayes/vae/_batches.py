"""The minibatches of an epoch: which rows each training step of the VAE sees.

A deliberate seam: the fit loop takes each epoch's row order from
:func:`epoch_order` and its minibatches from :func:`batch_slices`, so the
order can be checked here, without looking into a fit.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator

import numpy as np


def epoch_order(n_samples: int, shuffle: bool, random_state: np.random.RandomState) -> np.ndarray | None:
    """The order of the rows in one epoch.

    Parameters
    ----------
    n_samples : int
    shuffle : bool
        Whether to draw a fresh permutation for this epoch.
    random_state : numpy.random.RandomState
        The fit's stream; one permutation is drawn from it when ``shuffle``.

    Returns
    -------
    ndarray of shape (n_samples,) or None
        A permutation of the rows, or None for the rows in their order.
    """
    return random_state.permutation(n_samples) if shuffle else None


def batch_slices(n_samples: int, batch_size: int) -> Iterator[slice]:
    """Consecutive positions [0, b), [b, 2b), ... of an epoch's order; the last may be short."""
    for lo in range(0, n_samples, batch_size):
        yield slice(lo, min(lo + batch_size, n_samples))


def block_minibatches(
    blocks: Iterable[Any], batch_size: int, shuffle: bool, random_state: np.random.RandomState, xp: Any
) -> Iterator[Any]:
    """Minibatches of ``batch_size`` rows from blocks that arrive one at a time
    (the blocks of a Dask array, in an order the caller shuffled).

    Within each block the rows are permuted when ``shuffle``; the rows left
    at a block's end (fewer than a minibatch) lead the next block's first
    minibatch, so every minibatch but the epoch's last is full.
    """
    carry = None
    for block in blocks:
        block = xp.asarray(block)
        if shuffle:
            block = block[xp.asarray(random_state.permutation(block.shape[0]))]
        if carry is not None and carry.shape[0]:
            block = xp.concatenate([carry, block])
        full = block.shape[0] - block.shape[0] % batch_size
        for lo in range(0, full, batch_size):
            yield block[lo : lo + batch_size]
        carry = block[full:]
    if carry is not None and carry.shape[0]:
        yield carry
