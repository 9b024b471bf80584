import warnings

import numpy as np
import pytest

from varbayes import ELBODecreaseWarning, ELBOTracker, GaussianMixture, plot_elbo


def test_records_values_steps_terms_and_times():
    t = ELBOTracker()
    t.record(-3.0, "E", {"a": 1.0})
    t.record(-2.5, "M", {"a": 2.0, "b": 5.0})
    t.record(-2.0)
    assert t.values.dtype == np.float64
    np.testing.assert_array_equal(t.values, [-3.0, -2.5, -2.0])
    assert t.steps == ["E", "M", "iter"]
    np.testing.assert_array_equal(t.terms["a"], [1.0, 2.0, np.nan])
    np.testing.assert_array_equal(t.terms["b"], [np.nan, 5.0, np.nan])
    assert t.times.shape == (3,) and np.all(np.diff(t.times) >= 0)
    assert len(t) == 3
    np.testing.assert_array_equal(t.select("M"), [-2.5])
    assert "n_records=3" in repr(t)


def test_decreases_reports_where_and_how_much():
    t = ELBOTracker(monotone=False)
    for v in [-5.0, -4.0, -4.5, -4.5 - 1e-13, -1.0]:
        t.record(v)
    drops = t.decreases()
    assert [i for i, _ in drops] == [2]
    assert drops[0][1] == pytest.approx(0.5)
    assert not t.is_monotone()
    # A looser tolerance forgives the drop; a zero tolerance sees the rounding one.
    assert t.is_monotone(tol=0.2)
    assert [i for i, _ in t.decreases(tol=0.0)] == [2, 3]


def test_monotone_tracker_warns_on_decrease_beyond_tolerance():
    t = ELBOTracker(monotone=True, rtol=1e-9)
    t.record(-10.0)
    t.record(-10.0 - 1e-12)  # rounding: silent
    with pytest.warns(ELBODecreaseWarning, match="decreased by"):
        t.record(-10.1)


def test_stochastic_tracker_never_warns():
    t = ELBOTracker(monotone=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t.record(1.0)
        t.record(-100.0)


def test_plot_returns_axes_with_curves():
    import matplotlib.pyplot as plt

    t = ELBOTracker(monotone=False, name="run")
    rng = np.random.default_rng(0)
    for i in range(50):
        t.record(-10 + np.log1p(i) + rng.normal(scale=0.1), "epoch", {"kl": 1.0})
    ax = t.plot(terms=True)
    labels = [line.get_label() for line in ax.get_lines()]
    assert "run (raw)" in labels and "run (smoothed)" in labels and "kl" in labels
    assert ax.get_ylabel().startswith("ELBO")
    plt.close("all")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 5 iterations, on purpose
def test_plot_elbo_side_by_side_from_estimators_and_trackers():
    import matplotlib.pyplot as plt

    X = np.random.default_rng(0).normal(size=(60, 2))
    a = GaussianMixture(2, random_state=0, max_iter=5, tol=0.0).fit(X)
    b = GaussianMixture(2, random_state=1, max_iter=5, tol=0.0, covariance_type="diag").fit(X)
    ax = plot_elbo(a, b.elbo_, labels=["full", "diag"])
    labels = [line.get_label() for line in ax.get_lines()]
    assert "full" in labels and "diag" in labels
    # The legend names the runs, not each run's E and M markers again.
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["full", "diag"]
    single = plot_elbo(a)
    assert "after E" in [t.get_text() for t in single.get_legend().get_texts()]
    ydata = [line.get_ydata() for line in ax.get_lines() if line.get_label() == "full"][0]
    np.testing.assert_array_equal(ydata, a.elbo_.values)
    with pytest.raises(ValueError, match="labels"):
        plot_elbo(a, b, labels=["only one"])
    with pytest.raises(TypeError, match="fit the estimator first"):
        plot_elbo(GaussianMixture())
    with pytest.raises(ValueError, match="at least one"):
        plot_elbo()
    plt.close("all")


def test_plot_without_matplotlib_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    t = ELBOTracker()
    t.record(0.0)
    with pytest.raises(ImportError, match=r"varbayes\[plot\]"):
        t.plot()


def test_allowance_widens_the_tolerance_of_one_record():
    t = ELBOTracker(monotone=True, rtol=0.0)
    t.record(-1.0)
    t.record(-1.25, allowance=0.5)  # permitted by the algorithm's theory: silent
    with pytest.warns(ELBODecreaseWarning):
        t.record(-1.5, allowance=0.1)
    np.testing.assert_array_equal(t.allowances, [0.0, 0.5, 0.1])
    assert [i for i, _ in t.decreases()] == [2]


def test_rounding_error_widens_the_steps_into_and_out_of_a_record():
    t = ELBOTracker(monotone=True, rtol=0.0)
    t.record(-1.0)
    t.record(-1.2, error=0.3)  # into an uncertain record: silent
    t.record(-1.4)  # out of it: silent too
    with pytest.warns(ELBODecreaseWarning):
        t.record(-1.5)  # between two exact records
    np.testing.assert_array_equal(t.errors, [0.0, 0.3, 0.0, 0.0])
    assert [i for i, _ in t.decreases()] == [3]
    t.truncate(2)
    np.testing.assert_array_equal(t.errors, [0.0, 0.3])


def test_truncate_drops_later_records_and_their_terms():
    t = ELBOTracker()
    t.record(-3.0, "epoch", {"kl": 1.0})
    t.record(-2.0, "epoch", {"kl": 0.5, "validation_elbo": -2.5})
    t.record(-1.0, "epoch", {"kl": 0.2, "validation_elbo": -1.5})
    t.truncate(2)
    assert len(t) == 2 and t.steps == ["epoch", "epoch"] and len(t.times) == 2
    np.testing.assert_array_equal(t.values, [-3.0, -2.0])
    np.testing.assert_array_equal(t.terms["kl"], [1.0, 0.5])
    np.testing.assert_array_equal(t.terms["validation_elbo"], [np.nan, -2.5])
    t.record(0.0, "epoch", {"kl": 0.1})
    assert len(t.terms["validation_elbo"]) == 3
