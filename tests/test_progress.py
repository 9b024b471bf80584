"""Progress of long fits: a bar with an ETA on a terminal's stderr, nothing elsewhere, nothing by default."""

import contextlib
import io

import numpy as np
import pytest

from varbayes import VAE, BayesianGaussianMixture, GaussianMixture
from varbayes._progress import Progress

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self):
        return True


def _blobs():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(size=(100, 2)) + c for c in ([0, 0], [5, 5])])


def _run(make, terminal=True):
    err, out = (Terminal() if terminal else io.StringIO()), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        make().fit(_blobs())
    return out.getvalue(), err.getvalue()


@pytest.mark.parametrize("make, unit", [
    (lambda: GaussianMixture(2, n_init=3, max_iter=5, tol=0.0, verbose=1, random_state=0), "15 iterations"),
    (lambda: BayesianGaussianMixture(n_components=2, learning_method="online", batch_size=50, max_iter=3, tol=0.0,
                                     verbose=1, verbose_interval=1, random_state=0), "3 epochs"),
    (lambda: VAE(1, hidden_layer_sizes=(4,), max_iter=3, tol=0.0, verbose=1, random_state=0), "3 epochs"),
])
def test_a_verbose_fit_on_a_terminal_draws_a_bar_with_an_eta_and_clears_it(make, unit):
    out, err = _run(make)
    assert "\r" in err and "eta <=" in err and f"/{unit}" in err and "ELBO" in err
    assert err.endswith("\r")  # the bar is cleared at the end: the terminal is left clean
    assert "\r" not in out and out.strip()  # the verbose lines, on stdout, never mixed with the bar


def test_no_bar_off_a_terminal_and_nothing_at_all_by_default():
    out, err = _run(lambda: GaussianMixture(2, max_iter=3, verbose=1, random_state=0), terminal=False)
    assert err == "" and "Initialization 0" in out
    out, err = _run(lambda: GaussianMixture(2, max_iter=3, random_state=0))
    assert out == "" and err == ""


def test_bar_text_counts_and_bounds_the_eta():
    with contextlib.redirect_stderr(Terminal()):
        bar = Progress(10, "iterations", "fit")
    bar.update(5, "ELBO -1.5")
    text = bar.text()
    assert text.startswith("fit [############............] 5/10 iterations eta <= ") and text.endswith("ELBO -1.5")
    silent = Progress(10, "iterations", enabled=False)
    silent.update(3)
    silent.line("not printed")
    assert not silent.bar


def test_counts_are_whole_units_within_the_total():
    with contextlib.redirect_stderr(Terminal()):
        bar = Progress(30, "epochs", "VAE")
        empty = Progress(0, "iterations")
    bar.update(2.5)
    assert "2/30 epochs" in bar.text()
    bar.update(40)
    assert "30/30 epochs" in bar.text()
    empty.update(5)
    assert "0/0 iterations" in empty.text()
