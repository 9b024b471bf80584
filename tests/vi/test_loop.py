"""The variational core (varbayes.vi, varbayes._execution): model-agnostic by construction."""

import ast
from pathlib import Path

import numpy as np
import pytest

from varbayes._execution import ChunkExecutor
from varbayes.vi import Bound, ConjugateModel, fit_loop, has_converged

ROOT = Path(__file__).resolve().parents[2] / "varbayes"


@pytest.mark.parametrize("path", sorted((ROOT / "vi").glob("*.py")) + [ROOT / "_execution.py", ROOT / "_elbo.py"],
                         ids=lambda p: p.name)
def test_the_loop_the_executor_and_the_tracker_import_nothing_gaussian(path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            module = ("." * node.level) + (node.module or "")
            assert "mixture" not in module and "expfam" not in module and "vae" not in module, (path.name, module)


class _Mean(ConjugateModel):
    """A toy conjugate model, q(mu) = N(m, 1/(n + 1)) under mu ~ N(0, 1) and
    unit-variance observations: its one global update is exact, so the
    loop must stop after it."""

    local_name = "local"
    record_each_update = True

    def initialize(self, executor, X, sample_weight, random_state):
        return {"m": 0.0}

    def local_params(self, params):
        return ()

    @staticmethod
    def local_step(Xc, weights, rows):
        w = np.ones(len(Xc)) if weights is None else weights
        return np.array([w.sum(), w @ Xc[:, 0], w @ Xc[:, 0] ** 2])

    def global_updates(self):
        return [("q(mu)", lambda params, s: ({"m": s[1] / (s[0] + 1.0)}, 0.0))]

    def bound(self, params, s, step):
        n, sx, sxx = s
        m, v = params["m"], 1.0 / (n + 1.0)
        loglik = -0.5 * n * np.log(2 * np.pi) - 0.5 * (sxx - 2 * m * sx + n * (m * m + v))
        kl = 0.5 * (m * m + v - 1.0 - np.log(v))
        return Bound((loglik - kl) / n, {"kl": kl / n})


def test_the_loop_runs_any_conjugate_model_through_any_executor():
    X = np.random.default_rng(0).normal(loc=2.0, size=(500, 1))
    result = fit_loop(_Mean(), ChunkExecutor(64), X, None, max_iter=10, tol=1e-6,
                      random_state=np.random.RandomState(0))
    assert result.params["m"] == pytest.approx(X.sum() / (len(X) + 1.0))
    assert result.converged and result.n_iter == 2  # an exact update: the second sweep changes nothing
    assert result.tracker.steps[:3] == ["local", "q(mu)", "local"]
    assert result.tracker.is_monotone()
    # The chunk size does not change the sums (beyond rounding).
    other = fit_loop(_Mean(), ChunkExecutor(500), X, None, max_iter=10, tol=1e-6, random_state=np.random.RandomState(0))
    assert other.bound == pytest.approx(result.bound, rel=1e-12)


def test_a_step_that_does_not_raise_the_bound_converges_even_when_the_gain_since_the_start_is_rounding():
    # |L_t - L_{t-1}| <= tol |L_t - L_1|, or -min(rounding, 1e-10 max(1, |L|))
    # <= L_t - L_{t-1} <= 0; never before t = 2, never a decrease beyond rounding.
    L1 = -30.0
    assert has_converged(2, L1 + 1e-13, L1 - 1e-13, L1, 1e-3, 3e-8)  # at the optimum from the start: a wobble down
    assert not has_converged(2, L1 - 1e-13, L1 + 1e-13, L1, 1e-3, 3e-8)  # ... and up, relative to a gain of 1e-13
    assert has_converged(2, L1, L1, L1, 1e-3, 0.0)  # an exact fixed point
    assert not has_converged(1, L1, L1, L1, 1e-3, 3e-8)
    assert not has_converged(3, L1 + 1.0, L1 + 1.0 - 1e-6, L1, 1e-3, 3e-8)  # a decrease beyond rounding
    assert has_converged(3, L1 + 1.0, L1 + 1.0 + 5e-4, L1, 1e-3, 3e-8)  # the relative rule
    assert not has_converged(3, L1 + 1.0, L1 + 1.0 + 2e-3, L1, 1e-3, 3e-8)
    assert not has_converged(3, L1 + 1.0, L1 + 1.0 - 1e-12, L1, 0.0, 3e-8)  # tol = 0 runs every iteration
    # float32's coarse rounding (1e-4 |L|): a dip on a slow climb is not convergence.
    assert not has_converged(2, L1 - 4e-7, L1 - 4e-7 - 2.5e-8, L1, 1e-3, 3e-3)
