"""Which rows each VAE training step sees (varbayes.vae._batches, the fit loop's seam)."""

import numpy as np

from varbayes.vae._batches import batch_slices, epoch_order


def test_without_shuffle_the_rows_come_in_their_order_every_epoch():
    rs = np.random.RandomState(0)
    state = rs.get_state()[1].copy()
    assert epoch_order(50, False, rs) is None
    np.testing.assert_array_equal(rs.get_state()[1], state)  # no draw
    slices = list(batch_slices(50, 10))
    assert [(s.start, s.stop) for s in slices] == [(0, 10), (10, 20), (20, 30), (30, 40), (40, 50)]


def test_with_shuffle_each_epoch_draws_a_fresh_permutation_from_the_fit_stream():
    rs = np.random.RandomState(0)
    first, second = epoch_order(50, True, rs), epoch_order(50, True, rs)
    ref = np.random.RandomState(0)
    np.testing.assert_array_equal(first, ref.permutation(50))
    np.testing.assert_array_equal(second, ref.permutation(50))
    assert sorted(first) == list(range(50)) and not np.array_equal(first, second)


def test_the_last_batch_may_be_short_and_every_position_is_covered_once():
    positions = np.concatenate([np.arange(23)[s] for s in batch_slices(23, 10)])
    np.testing.assert_array_equal(positions, np.arange(23))
    assert [s.stop - s.start for s in batch_slices(23, 10)] == [10, 10, 3]
