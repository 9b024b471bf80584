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


def test_plot_returns_axes_with_curves_and_the_terms_on_their_own_panel():
    import matplotlib.pyplot as plt
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    t = ELBOTracker(monotone=False, name="run")
    rng = np.random.default_rng(0)
    for i in range(50):
        t.record(-10 + np.log1p(i) + rng.normal(scale=0.1), "epoch", {"kl": 1.0})
    ax = t.plot(terms=True)
    labels = [line.get_label() for line in ax.get_lines()]
    assert "run (raw)" in labels and "run (smoothed)" in labels and "kl" not in labels
    assert ax.get_ylabel() == "ELBO (nats per sample)" and ax.get_xlabel() == "epoch"
    fig = ax.figure
    assert isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine)  # savefig keeps the labels
    (term_ax,) = [a for a in fig.axes if a is not ax]
    assert [line.get_label() for line in term_ax.get_lines()] == ["kl"]
    assert term_ax.get_ylabel().startswith("term") and "ELBO" not in term_ax.get_ylabel()
    assert term_ax.get_legend().get_bbox_to_anchor().x0 > term_ax.get_window_extent().x1 - 1  # beside, not over
    plt.close("all")


def _em_tracker(values):
    t = ELBOTracker(monotone=True)
    for i, v in enumerate(values):
        t.record(v, "E" if i % 2 == 0 else "M")
    return t


def test_em_plot_is_a_staircase_in_iterations_with_e_and_m_marked_apart():
    import matplotlib.pyplot as plt

    t = _em_tracker([-20.0, -15.0, -14.0, -13.5, -13.4])
    np.testing.assert_array_equal(t.positions()[0], [0.0, 0.5, 1.0, 1.5, 2.0])
    ax = t.plot(label="EM")
    assert ax.get_xlabel() == "iteration"
    curve, e, m = ax.get_lines()[:3]
    assert curve.get_drawstyle() == "steps-post"
    np.testing.assert_array_equal(curve.get_xdata(), [0.0, 0.5, 1.0, 1.5, 2.0])
    assert (e.get_label(), m.get_label()) == ("after E", "after M")
    np.testing.assert_array_equal(e.get_xdata(), [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(m.get_xdata(), [0.5, 1.5])
    assert e.get_marker() != m.get_marker() and e.get_color() != m.get_color()
    plt.close("all")


def test_cavi_updates_share_their_iteration_and_an_unfinished_one_keeps_the_spacing():
    t = ELBOTracker(monotone=True)
    for step in ["q(Z)", "a", "b", "q(Z)", "a", "b", "q(Z)", "a"]:
        t.record(0.0, step)
    np.testing.assert_allclose(t.positions()[0], [0, 1 / 3, 2 / 3, 1, 4 / 3, 5 / 3, 2, 7 / 3])
    assert t.positions()[1] == "iteration"


def test_a_first_record_far_below_the_rest_does_not_flatten_the_curve():
    import matplotlib.pyplot as plt

    t = _em_tracker([-6.7e6, -20.0, -15.0, -14.5, -14.2, -14.1, -14.05])
    ax = t.plot()
    low, high = ax.get_ylim()
    assert -30 < low < -20 and -14.05 < high < -13
    notes = [c.get_text() for c in ax.texts]
    assert notes == ["-6.7e+06 (off scale)"]
    ax = t.plot(ylim=None)
    assert ax.get_ylim()[0] < -6e6
    ax = t.plot(start=1)
    assert ax.get_lines()[0].get_xdata()[0] == 0.5 and not ax.texts
    plt.close("all")


def test_terms_drawn_on_the_caller_axes_stay_in_view_and_extreme_values_do_not_break_the_limits():
    import matplotlib.pyplot as plt

    t = ELBOTracker(monotone=True)
    for i in range(10):
        t.record(-13 - 1 / (i + 1), "E", {"kl": 3.0})
    _, ax = plt.subplots()
    t.plot(ax=ax, terms=True)
    low, high = ax.get_ylim()
    assert low < -14 and high > 3  # the ELBO and the KL term both visible
    ax = plot_elbo(t, terms=True)
    assert ax.get_ylim()[1] > 3
    huge = ELBOTracker()
    for v in (-1e308, 1e308, -1e308):
        huge.record(v)
    huge.plot()  # limits that would overflow are left to matplotlib
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
    assert ax.get_xlabel() == "iteration"
    with pytest.raises(ValueError, match="labels"):
        plot_elbo(a, b, labels=["only one"])
    with pytest.raises(TypeError, match="fit the estimator first"):
        plot_elbo(GaussianMixture())
    with pytest.raises(ValueError, match="at least one"):
        plot_elbo()
    plt.close("all")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_plot_elbo_gives_each_kind_of_run_its_own_panel():
    import matplotlib.pyplot as plt

    from varbayes import VAE

    X = np.random.default_rng(0).normal(size=(60, 2))
    em = GaussianMixture(2, random_state=0, max_iter=5, tol=0.0).fit(X)
    vae = VAE(1, hidden_layer_sizes=(4,), max_iter=4, random_state=0).fit(X)
    axes = plot_elbo(em, vae, labels=["em", "vae"])
    assert [a.get_xlabel() for a in axes] == ["iteration", "epoch"]
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == ["em"]
    assert [t.get_text() for t in axes[1].get_legend().get_texts()] == ["vae"]
    with pytest.raises(ValueError, match="one x-axis each"):
        plot_elbo(em, vae, ax=axes[0])
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
