"""The executors: the only code that iterates over data.

A pass over X maps a *local step*, a function of one chunk of rows, its
sample weights and broadcast parameters, over consecutive row chunks, and
either sums what the steps return (statistics that add with ``+``) or
concatenates it (per-row predictions).  Holding at most one chunk's work
arrays at a time keeps a pass's extra memory bounded whatever n_samples is.

Two executors share that interface:

* :class:`ChunkExecutor`, in-process, over an in-memory (or lazily sliced,
  e.g. ``np.memmap``) array;
* :class:`DaskExecutor`, over the row blocks of a ``dask.array`` where they
  live (the cluster's workers, or the threaded scheduler): each block is
  streamed through chunks by a :class:`ChunkExecutor` on its worker, and the
  blocks' statistics are summed in a tree, so one pass is one graph whose
  only traffic is the broadcast parameters out and the statistics back.

The executors know nothing of the models: a step is called as
``step(X_chunk, weights_chunk_or_None, rows, *broadcast)``, where ``rows`` is
the chunk's slice of the row positions in the whole of X (a step whose values
depend on the rows' positions, such as initial responsibilities drawn in row
order, uses it; every other step ignores it).  Besides passes, an executor
gathers a few given rows (:meth:`take`, for initialisations from a sample)
and folds a function over the row blocks in order (:meth:`fold`, for the
minibatch steps of a stream, which travel to the data).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterator

import numpy as np

__all__ = [
    "ChunkExecutor", "ClusterError", "DaskExecutor", "Workspace", "chunk_slices", "compute", "get_executor",
    "is_dask_array", "one_blas_thread", "persist", "workspace",
]


class Workspace:
    """Named work arrays that the chunks of one pass reuse.

    A local step asks for its chunk-sized temporaries by name (see
    :func:`workspace`); the first chunk allocates them and the others reuse
    them, so a pass allocates nothing per chunk.  Besides the allocations,
    this avoids the page faults of mapping fresh memory for every chunk,
    which glibc does when its mmap threshold is fixed (by any MALLOC_*
    variable in the environment, as Dask's workers have: about 2x the time
    of a pass).  One array per name, replaced when a different shape or
    dtype is asked for (a pass's last, shorter chunk), so a workspace holds
    no more than one chunk's arrays; each is valid until its name is asked
    for again, so a step takes each name once per use.  The arrays go with
    the pass.
    """

    def __init__(self) -> None:
        self._arrays: dict = {}

    def get(self, xp: Any, name: str, shape: tuple, dtype: Any) -> Any:
        """The array ``name`` of this shape and dtype in namespace ``xp`` (contents undefined)."""
        array = self._arrays.get(name)
        if array is None or array.shape != tuple(shape) or array.dtype != dtype or not isinstance(array, xp.ndarray):
            array = self._arrays[name] = None  # free the old one first
            array = self._arrays[name] = xp.empty(shape, dtype=dtype)
        return array


_PASS = threading.local()


def workspace() -> Workspace | None:
    """The :class:`Workspace` of the pass running in this thread (None outside a pass)."""
    return getattr(_PASS, "workspace", None)


class _SingleThreadedBLAS:
    """A process-wide, reference-counted "BLAS on one thread" context.

    BLAS thread limits are process-global, so concurrent calls must share one
    limit: the first to enter saves the limits and sets 1, the last to leave
    restores them.  (Separate threadpoolctl contexts that overlap restore in
    the wrong order and leave BLAS on one thread for good.)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._controller = None
        self._limiter = None

    @contextlib.contextmanager
    def __call__(self):
        with self._lock:
            if self._depth == 0:
                if self._controller is None:
                    from threadpoolctl import ThreadpoolController

                    self._controller = ThreadpoolController()
                self._limiter = self._controller.limit(limits=1, user_api="blas")
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    self._limiter.restore_original_limits()
                    self._limiter = None


#: Run a block with BLAS on one thread: ``with one_blas_thread(): ...``.
#:
#: The passes work chunk by chunk, so their products are small (a few MiB of
#: operands), and so are the global updates: BLAS threads cost more to start
#: and synchronise than they save, and on a loaded machine they oversubscribe
#: the cores (the demo's EM fit took 9.6 s with the default threads on a busy
#: 2-core machine, 1.5 s with one).  As scikit-learn's KMeans does, the limit
#: is set inside the fit; parallelism comes from Dask's workers instead.
one_blas_thread = _SingleThreadedBLAS()


@contextlib.contextmanager
def _pass_workspace() -> Iterator[None]:
    """A workspace for the chunks of one pass (an enclosing pass's, if any),
    with BLAS on one thread."""
    if workspace() is not None:
        yield
        return
    _PASS.workspace = Workspace()
    try:
        with one_blas_thread():
            yield
    finally:
        _PASS.workspace = None


def chunk_slices(n_samples: int, chunk_size: int, start: int = 0) -> Iterator[slice]:
    """Consecutive row slices of at most ``chunk_size`` rows, numbered from ``start``."""
    for lo in range(0, n_samples, chunk_size):
        yield slice(start + lo, start + min(lo + chunk_size, n_samples))


def is_dask_array(X: Any) -> bool:
    """Whether ``X`` is a ``dask.array.Array`` (checked without importing Dask)."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "to_delayed")


class ClusterError(RuntimeError):
    """The Dask cluster could not complete a pass: unreachable, closed, or
    its workers lost.

    Raised by every estimator method given a Dask array, instead of Dask's
    own connection errors; the estimator is left as it was.
    """


CLUSTER_MESSAGE = (
    "The Dask cluster could not complete the computation ({error}). Check that the "
    "scheduler and its workers are running (a closed Client or LocalCluster must be "
    "started again), then fit again; the estimator was left as it was."
)


def _translated(exc: BaseException) -> BaseException:
    """A failure of the cluster itself (Dask's distributed package, or the
    network under it) as one clear :class:`ClusterError`; errors raised by the
    tasks' own code pass unchanged."""
    module = type(exc).__module__.split(".")[0]
    if module in ("distributed", "tornado") or isinstance(exc, (ConnectionError, TimeoutError)):
        return ClusterError(CLUSTER_MESSAGE.format(error=f"{type(exc).__name__}: {exc}"))
    return exc


def compute(*objs: Any) -> tuple:
    """``dask.compute`` on the current scheduler, cluster failures made clear."""
    import dask

    try:
        return dask.compute(*objs)
    except Exception as exc:
        clear = _translated(exc)
        if clear is exc:
            raise
        raise clear from exc


def persist(X: Any) -> Any:
    """``X.persist()`` on the current scheduler, cluster failures made clear."""
    try:
        return X.persist()
    except Exception as exc:
        clear = _translated(exc)
        if clear is exc:
            raise
        raise clear from exc


class ChunkExecutor:
    """Map local steps over row chunks of an in-memory (or lazily sliced) array.

    Parameters
    ----------
    chunk_size : int
        Rows per chunk.
    """

    distributed = False

    def __init__(self, chunk_size: int) -> None:
        self.chunk_size = int(chunk_size)

    def _chunks(self, X: Any, sample_weight: Any, start: int = 0) -> Iterator[tuple[Any, Any, slice]]:
        for rows in chunk_slices(X.shape[0], self.chunk_size, start):
            local = slice(rows.start - start, rows.stop - start)
            yield X[local], None if sample_weight is None else sample_weight[local], rows

    def map_sum(self, step: Callable[..., Any], X: Any, sample_weight: Any, *broadcast: Any, start: int = 0) -> Any:
        """The sum over chunks of ``step(chunk, weights, rows, *broadcast)``.

        ``start`` is the position of X's first row in a larger array (a
        block of a Dask array), which ``rows`` counts from.
        """
        total = None
        with _pass_workspace():
            for Xc, wc, rows in self._chunks(X, sample_weight, start):
                part = step(Xc, wc, rows, *broadcast)
                if total is None:
                    total = part
                else:
                    total += part  # in place where the statistics allow it (each part is fresh)
        return total

    def map_concat(self, step: Callable[..., Any], xp: Any, X: Any, *broadcast: Any, start: int = 0,
                   out: Any = None) -> Any:
        """``step(chunk, None, rows, *broadcast)`` for each chunk, concatenated along rows.

        (``out``, the output's form, is for the Dask executor's lazy result.)
        """
        with _pass_workspace():
            parts = [step(Xc, wc, rows, *broadcast) for Xc, wc, rows in self._chunks(X, None, start)]
        return xp.concatenate(parts) if parts else step(X[:0], None, slice(start, start), *broadcast)

    def take(self, X: Any, indices: np.ndarray) -> Any:
        """The rows of X at sorted ``indices`` (a sample for an initialisation)."""
        return X[indices]

    def n_blocks(self, X: Any) -> int:
        """One block: X itself."""
        return 1

    def blocks(self, X: Any, order: Any) -> Iterator[Any]:
        """X itself, as the one block."""
        yield X

    def fold(self, fn: Callable[..., Any], X: Any, sample_weight: Any, state: Any, *broadcast: Any) -> Any:
        """``fn(state, X, weights, start, *broadcast)``: X is one block here
        (its passes share one workspace)."""
        with _pass_workspace():
            return fn(state, X, sample_weight, 0, *broadcast)


class DaskExecutor:
    """Map local steps over the row blocks of a Dask array, on its scheduler.

    Each pass builds one graph: a task per block (on the worker that holds
    it, streaming the block through ``chunk_size``-row chunks with a
    :class:`ChunkExecutor`), a tree sum of the blocks' statistics with
    ``split_every`` inputs per node, and one ``compute``.  The broadcast
    parameters enter the graph once and reach each worker once.

    The sum is taken in a different order from the in-process executor's
    (a tree over blocks, not a left-to-right chain over chunks), so totals
    differ by rounding only: each floating-point addition errs by at most
    eps relative to its result, and a tree of depth h over m blocks adds at
    most (h + chunks per block) eps of relative error to each sum of
    non-negative terms (Higham (2002), sec. 4.2).

    Parameters
    ----------
    chunk_size : int
        Rows per chunk within a block.
    split_every : int, default=8
        Fan-in of the tree sum.
    """

    distributed = True

    def __init__(self, chunk_size: int, split_every: int = 8) -> None:
        self.chunk_size = int(chunk_size)
        self.split_every = int(split_every)

    @staticmethod
    def _blocks(X: Any, sample_weight: Any) -> list[tuple[Any, Any, int]]:
        """(block, weights block or None, first row) per row block, as Delayed objects."""
        blocks = X.to_delayed()
        if blocks.shape[1] != 1:  # validation rechunks columns into one block
            raise ValueError("X must be chunked along rows only (one block of columns).")
        starts = np.concatenate([[0], np.cumsum(X.chunks[0])[:-1]]).astype(int)
        weights = [None] * len(starts) if sample_weight is None else list(sample_weight.to_delayed().ravel())
        return [(b, w, int(s)) for b, w, s in zip(blocks[:, 0], weights, starts)]

    def map_sum(self, step: Callable[..., Any], X: Any, sample_weight: Any, *broadcast: Any) -> Any:
        """The sum over all chunks of all blocks of ``step(chunk, weights, rows, *broadcast)``."""
        import dask

        shared = _shared(broadcast)
        task = dask.delayed(_block_sum, pure=True)
        parts = [task(step, self.chunk_size, b, w, s, shared) for b, w, s in self._blocks(X, sample_weight)]
        add = dask.delayed(_sum, pure=True)
        while len(parts) > 1:
            parts = [add(*parts[i : i + self.split_every]) for i in range(0, len(parts), self.split_every)]
        return compute(parts[0])[0]

    def map_concat(self, step: Callable[..., Any], xp: Any, X: Any, *broadcast: Any, out: Any = None) -> Any:
        """A lazy Dask array: ``step`` over each block's chunks, concatenated along rows.

        The output's dtype and trailing shape are ``out`` (an empty array of
        them) or come from the step applied to zero rows, here; nothing is
        computed until the caller asks.
        """
        import dask
        import dask.array as da

        probe = out if out is not None else step(xp.zeros((0, X.shape[1]), dtype=X.dtype), None, slice(0, 0), *broadcast)
        shared = _shared(broadcast)
        task = dask.delayed(_block_concat, pure=True)
        parts = [
            da.from_delayed(task(step, self.chunk_size, xp, b, s, shared), shape=(n,) + probe.shape[1:], dtype=probe.dtype,
                            meta=probe)
            for (b, _, s), n in zip(self._blocks(X, None), X.chunks[0])
        ]
        return da.concatenate(parts)

    def take(self, X: Any, indices: np.ndarray) -> Any:
        """The rows of X at sorted ``indices``, gathered from their blocks (only those rows travel)."""
        return compute(X[indices])[0]

    def n_blocks(self, X: Any) -> int:
        """The number of row blocks of X."""
        return len(X.chunks[0])

    def blocks(self, X: Any, order: Any) -> Iterator[Any]:
        """The row blocks of X in ``order``, each computed and brought here in turn.

        For a sequential consumer (stochastic gradient steps) that must see
        the rows one minibatch at a time: only one block is held here at a
        time, never the whole of X.
        """
        delayed = X.to_delayed()[:, 0]
        for i in order:
            yield compute(delayed[int(i)])[0]

    def fold(self, fn: Callable[..., Any], X: Any, sample_weight: Any, state: Any, *broadcast: Any) -> Any:
        """``state = fn(state, block, weights, start, *broadcast)`` over the row blocks in order.

        One graph: a chain of tasks, each where its block lives; only the
        state travels from block to block.
        """
        import dask

        shared = _shared(broadcast)
        task = dask.delayed(_block_fold, pure=True)
        for b, w, s in self._blocks(X, sample_weight):
            state = task(fn, state, b, w, s, shared)
        return compute(state)[0]


def _shared(broadcast: tuple) -> Any:
    """The broadcast parameters as one graph node, which each worker fetches once per pass."""
    import dask

    return dask.delayed(broadcast, traverse=False)


def _block_sum(step: Callable[..., Any], chunk_size: int, X: Any, w: Any, start: int, broadcast: tuple) -> Any:
    return ChunkExecutor(chunk_size).map_sum(step, X, w, *broadcast, start=start)


def _block_concat(step: Callable[..., Any], chunk_size: int, xp: Any, X: Any, start: int, broadcast: tuple) -> Any:
    return ChunkExecutor(chunk_size).map_concat(step, xp, X, *broadcast, start=start)


def _block_fold(fn: Callable[..., Any], state: Any, X: Any, w: Any, start: int, broadcast: tuple) -> Any:
    with _pass_workspace():
        return fn(state, X, w, start, *broadcast)


def _sum(*parts: Any) -> Any:
    parts = [part for part in parts if part is not None]  # an empty block has no statistics
    total = parts[0] if parts else None
    for part in parts[1:]:
        total = total + part  # not in place: a part may be an input shared with another task
    return total


def get_executor(X: Any, chunk_size: int) -> ChunkExecutor | DaskExecutor:
    """The executor for X: Dask blocks for a Dask array, in-process chunks otherwise."""
    return DaskExecutor(chunk_size) if is_dask_array(X) else ChunkExecutor(chunk_size)
