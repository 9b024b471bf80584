"""The executor: the only code that iterates over data.

A pass over X maps a *local step*, a function of one chunk of rows, its
sample weights and broadcast parameters, over consecutive row chunks, and
either sums what the steps return (statistics that add with ``+``) or
concatenates it (per-row predictions).  Holding at most one chunk's work
arrays at a time keeps a pass's extra memory bounded whatever n_samples is;
the same interface serves a Dask executor (blocks on workers, a tree sum).

The executor knows nothing of the models: a step is called as
``step(X_chunk, weights_chunk_or_None, rows, *broadcast)``, where ``rows`` is
the chunk's slice of the row positions (a step whose values depend on the
rows' positions, such as initial responsibilities drawn in row order, uses
it; every other step ignores it).
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

__all__ = ["ChunkExecutor", "chunk_slices"]


def chunk_slices(n_samples: int, chunk_size: int) -> Iterator[slice]:
    """Consecutive row slices of at most ``chunk_size`` rows."""
    for start in range(0, n_samples, chunk_size):
        yield slice(start, min(start + chunk_size, n_samples))


class ChunkExecutor:
    """Map local steps over row chunks of an in-memory (or lazily sliced) array.

    Parameters
    ----------
    chunk_size : int
        Rows per chunk.
    """

    def __init__(self, chunk_size: int) -> None:
        self.chunk_size = int(chunk_size)

    def _chunks(self, X: Any, sample_weight: Any) -> Iterator[tuple[Any, Any, slice]]:
        for rows in chunk_slices(X.shape[0], self.chunk_size):
            yield X[rows], None if sample_weight is None else sample_weight[rows], rows

    def map_sum(self, step: Callable[..., Any], X: Any, sample_weight: Any, *broadcast: Any) -> Any:
        """The sum over chunks of ``step(chunk, weights, rows, *broadcast)``."""
        total = None
        for Xc, wc, rows in self._chunks(X, sample_weight):
            part = step(Xc, wc, rows, *broadcast)
            if total is None:
                total = part
            else:
                total += part  # in place where the statistics allow it (each part is fresh)
        return total

    def map_concat(self, step: Callable[..., Any], xp: Any, X: Any, *broadcast: Any) -> Any:
        """``step(chunk, None, rows, *broadcast)`` for each chunk, concatenated along rows."""
        parts = [step(Xc, wc, rows, *broadcast) for Xc, wc, rows in self._chunks(X, None)]
        return xp.concatenate(parts) if parts else xp.empty(0)
