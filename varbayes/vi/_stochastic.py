"""Stochastic steps of the variational core: stochastic VI and online EM.

Both keep a running average of the data set's statistics, one minibatch at a
time (Hoffman, Blei, Wang & Paisley (2013), JMLR 14, eqs. 19-25; Cappé &
Moulines (2009), JRSS-B 71, sec. 2.2):

    s_b  = sum over the minibatch of the local step's statistics, scaled by N / |b|
    s_t  = (1 - rho_t) s_{t-1} + rho_t s_b,   rho_t = (learning_offset + t)^(-learning_decay)
    lambda_t = global updates applied to s_t

For a conjugate model the global parameters depend linearly on the
statistics (their natural parameters do), so averaging the statistics is the
natural-gradient step lambda <- (1 - rho) lambda + rho lambda_hat of
stochastic VI, and for EM (a point mass over the parameters) it is stepwise
online EM's running average followed by an M-step.  With 0.5 < learning_decay
<= 1 the steps satisfy Robbins-Monro (sum rho = inf, sum rho^2 < inf).

The model supplies, besides the hooks of :class:`~varbayes.vi.ConjugateModel`,
``scale_stats(stats, factor)`` and ``blend_stats(running, new, rho)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._elbo import ELBOTracker
from .._execution import ChunkExecutor
from ._loop import NON_FINITE_MESSAGE, NonFiniteBoundError

__all__ = ["OnlineState", "Schedule", "online_steps", "step_size"]


@dataclass
class OnlineState:
    """Where a stream stands: the global parameters, the running statistics
    (scaled to the data set), the number of steps taken, the record, and the
    rows of an unfinished minibatch (``carry``: rows at the end of one block
    that wait for the next block's first rows)."""

    params: Any
    running: Any
    n_steps: int
    tracker: ELBOTracker
    carry: tuple = (None, None)


@dataclass(frozen=True)
class Schedule:
    """The settings of the stochastic steps: minibatch size, the data set
    size the statistics are scaled to, and the step size schedule."""

    batch_size: int
    total_samples: float
    learning_offset: float
    learning_decay: float


def step_size(n_steps: int, learning_offset: float, learning_decay: float) -> float:
    """rho_t = (learning_offset + t)^(-learning_decay) for the t-th step (t >= 1)."""
    return float((learning_offset + n_steps) ** (-learning_decay))


def online_steps(
    model: Any,
    executor: Any,
    X: Any,
    sample_weight: Any,
    state: OnlineState | None,
    *,
    batch_size: int,
    total_samples: float,
    learning_offset: float,
    learning_decay: float,
    random_state: np.random.RandomState,
    name: str | None = None,
) -> OnlineState:
    """One pass over X in minibatches of ``batch_size`` rows, in order.

    Without a ``state`` (the first minibatch of a stream) the model is
    initialised from the first minibatch (gathered to the caller), and its
    initial statistics, scaled to ``total_samples``, start the running
    average.  The steps then run where the data lives (``executor.fold``:
    in process, or as a chain of tasks over a Dask array's blocks, the state
    travelling from block to block), with minibatches of consecutive rows
    whatever the blocks, so the steps are the same however X is chunked.
    Each minibatch records the bound estimate of its local step (scaled to
    the data set, nats per sample) in a tracker that does not expect ascent.
    """
    schedule = Schedule(int(batch_size), float(total_samples), float(learning_offset), float(learning_decay))
    if state is None:
        first = np.arange(min(batch_size, X.shape[0]))
        Xb = executor.take(X, first)
        wb = None if sample_weight is None else executor.take(sample_weight, first)
        params, initial = model.initialize_with_stats(ChunkExecutor(executor.chunk_size), Xb, wb, random_state)
        running = None if initial is None else model.scale_stats(initial, total_samples / initial.n_samples)
        state = OnlineState(params, running, 0, ELBOTracker(monotone=False, name=name))
    return executor.fold(_block_steps, X, sample_weight, state, model, schedule, X.shape[0], executor.chunk_size)


def _block_steps(
    state: OnlineState, X: Any, sample_weight: Any, start: int, model: Any, schedule: Schedule, n_rows: int,
    chunk_size: int,
) -> OnlineState:
    """The stochastic steps of the minibatches in one block of rows starting at row ``start``.

    Rows left over at the block's end (fewer than a minibatch) travel in the
    state's ``carry`` to the next block; the last block of X takes them as
    its final, shorter minibatch.
    """
    executor = ChunkExecutor(chunk_size)
    carried_X, carried_w = state.carry
    if carried_X is not None:
        X = np.concatenate([carried_X, X])  # NumPy or CuPy (NEP 18 dispatch)
        if sample_weight is not None:
            sample_weight = np.concatenate([carried_w, sample_weight])
    last = start + (X.shape[0] - (0 if carried_X is None else carried_X.shape[0])) >= n_rows
    n = X.shape[0]
    full = n if last else n - n % schedule.batch_size
    for lo in range(0, full, schedule.batch_size):
        rows = slice(lo, min(lo + schedule.batch_size, full))
        wb = None if sample_weight is None else sample_weight[rows]
        state = _step(model, executor, state, X[rows], wb, schedule)
    carry = (None, None) if full == n else (X[full:].copy(), None if sample_weight is None else sample_weight[full:].copy())
    return OnlineState(state.params, state.running, state.n_steps, state.tracker, carry)


def _step(model: Any, executor: ChunkExecutor, state: OnlineState, Xb: Any, wb: Any, schedule: Schedule) -> OnlineState:
    """One stochastic step: the minibatch's statistics scaled to the data set, averaged in, global updates."""
    stats = executor.map_sum(model.local_step, Xb, wb, *model.local_params(state.params))
    scaled = model.scale_stats(stats, schedule.total_samples / stats.n_samples)
    record = model.bound(state.params, scaled, model.local_name)
    if not np.isfinite(record.value):
        raise NonFiniteBoundError(NON_FINITE_MESSAGE.format(n_iter=state.n_steps))
    state.tracker.record(record.value, "minibatch", record.terms)
    n_steps = state.n_steps + 1
    rho = step_size(n_steps, schedule.learning_offset, schedule.learning_decay)
    running = scaled if state.running is None or rho >= 1.0 else model.blend_stats(state.running, scaled, rho)
    params = state.params
    for _, update in model.global_updates():
        params, _ = update(params, running)
    return OnlineState(params, running, n_steps, state.tracker)
