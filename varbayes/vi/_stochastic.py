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
from ._loop import NON_FINITE_MESSAGE, NonFiniteBoundError

__all__ = ["OnlineState", "online_steps", "step_size"]


@dataclass
class OnlineState:
    """Where a stream stands: the global parameters, the running statistics
    (scaled to the data set), the number of steps taken and the record."""

    params: Any
    running: Any
    n_steps: int
    tracker: ELBOTracker


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
    initialised from the first minibatch, and its initial statistics, scaled
    to ``total_samples``, start the running average.  Each minibatch records
    the bound estimate of its local step (scaled to the data set, nats per
    sample) in a tracker that does not expect ascent.
    """
    n = X.shape[0]
    for lo in range(0, n, batch_size):
        rows = slice(lo, min(lo + batch_size, n))
        Xb = X[rows]
        wb = None if sample_weight is None else sample_weight[rows]
        if state is None:
            tracker = ELBOTracker(monotone=False, name=name)
            params, initial = model.initialize_with_stats(executor, Xb, wb, random_state)
            running = None if initial is None else model.scale_stats(initial, total_samples / initial.n_samples)
            state = OnlineState(params, running, 0, tracker)
        stats = executor.map_sum(model.local_step, Xb, wb, *model.local_params(state.params))
        scaled = model.scale_stats(stats, total_samples / stats.n_samples)
        record = model.bound(state.params, scaled, model.local_name)
        if not np.isfinite(record.value):
            raise NonFiniteBoundError(NON_FINITE_MESSAGE.format(n_iter=state.n_steps))
        state.tracker.record(record.value, "minibatch", record.terms)
        n_steps = state.n_steps + 1
        rho = step_size(n_steps, learning_offset, learning_decay)
        running = scaled if state.running is None or rho >= 1.0 else model.blend_stats(state.running, scaled, rho)
        params = state.params
        for _, update in model.global_updates():
            params, _ = update(params, running)
        state = OnlineState(params, running, n_steps, state.tracker)
    return state
