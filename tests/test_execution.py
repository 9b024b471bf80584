"""The executors: in-process chunks and Dask blocks give the same passes."""

import numpy as np
import pytest

from varbayes._execution import ChunkExecutor, DaskExecutor, chunk_slices, get_executor, is_dask_array

da = pytest.importorskip("dask.array")


def _step(Xc, weights, rows, scale):
    """An additive step that also sees its rows' positions."""
    w = np.ones(len(Xc)) if weights is None else weights
    return np.array([w.sum(), scale * (w[:, None] * Xc).sum(), (w * np.arange(rows.start, rows.stop)).sum()])


def _rows(Xc, weights, rows, scale):
    return scale * Xc[:, 0] + np.arange(rows.start, rows.stop)


def test_chunk_slices_cover_the_rows_once_from_any_start():
    assert list(chunk_slices(7, 3, start=10)) == [slice(10, 13), slice(13, 16), slice(16, 17)]


def test_the_executor_follows_the_array():
    X = np.zeros((4, 2))
    assert type(get_executor(X, 2)) is ChunkExecutor
    assert type(get_executor(da.from_array(X, chunks=2), 2)) is DaskExecutor
    assert is_dask_array(da.zeros(3)) and not is_dask_array(X)


def test_a_dask_pass_equals_the_in_process_pass(scheduler):
    rng = np.random.default_rng(0)
    X, w = rng.normal(size=(1003, 3)), rng.random(1003)
    Xd, wd = da.from_array(X, chunks=(150, 3)), da.from_array(w, chunks=150)
    ref = ChunkExecutor(64).map_sum(_step, X, w, 2.0)
    np.testing.assert_allclose(DaskExecutor(64, split_every=3).map_sum(_step, Xd, wd, 2.0), ref, rtol=1e-13)
    out = DaskExecutor(64).map_concat(_rows, np, Xd, 2.0)
    assert is_dask_array(out) and out.shape == (1003,)
    np.testing.assert_array_equal(out.compute(), ChunkExecutor(64).map_concat(_rows, np, X, 2.0))
    np.testing.assert_array_equal(DaskExecutor(64).take(Xd, np.array([0, 149, 150, 1002])), X[[0, 149, 150, 1002]])


def _append(state, X, weights, start, tag):
    return state + [(tag, start, len(X))]


def test_fold_visits_the_blocks_in_order_with_their_first_rows(scheduler):
    Xd = da.zeros((10, 2), chunks=(4, 2))
    assert DaskExecutor(3).fold(_append, Xd, None, [], "t") == [("t", 0, 4), ("t", 4, 4), ("t", 8, 2)]
    assert ChunkExecutor(3).fold(_append, np.zeros((10, 2)), None, [], "t") == [("t", 0, 10)]


def test_one_pass_is_one_graph(count_graphs):
    Xd = da.from_array(np.ones((1000, 2)), chunks=(100, 2))
    with count_graphs() as graphs:
        DaskExecutor(30).map_sum(_step, Xd, None, 1.0)
    assert len(graphs) == 1
