"""Where the time of a mixture's E-step goes on the GPU: stage by stage, and against alternatives.

    python benchmarks/profile_gpu.py                 # on a CUDA machine: n=1e6, d=32, K=32, float32, 'full'
    python benchmarks/profile_gpu.py --n 20000       # anywhere: the same stages with NumPy (a dry run)

Prints, for pieces of a few sizes (rows), the seconds of each stage of the
residual-form E-step as the estimators run it (augmented residuals, their
whitening GEMM and squared norms, normalising, the weighted residuals and
moment GEMMs), a whole E-step pass over X at several
working-memory budgets, seconds per iteration of the fit itself, and a
cProfile of one fit (where the interpreter's time goes).  Every time is the
mean of ``--repeats`` calls between device synchronisations.  The pieces
include one of all n rows: at the defaults, a few (K, d, n) float32 arrays
of 4 GiB each (about 20 GB of device memory); ``--rows`` chooses others.
"e_step" is the whole local step on a piece of that many rows, which itself
splits rows beyond the chunk budget.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time

import numpy as np

os.environ.setdefault("SCIPY_ARRAY_API", "1")  # for scikit-learn's array-API reference, before SciPy loads
sys.path.insert(0, os.path.dirname(__file__))
from bench_mixture import make_data  # noqa: E402

import varbayes  # noqa: E402
from varbayes._backend import cuda_available, get_backend  # noqa: E402
from varbayes._execution import ChunkExecutor, _pass_workspace, workspace  # noqa: E402
from varbayes.mixture import _stats  # noqa: E402
from varbayes.mixture._covariance import get_covariance, residuals  # noqa: E402


def timer(sync, repeats):
    def measure(fn):
        fn()  # warm-up: compiles kernels, fills the memory pool
        sync()
        t = time.perf_counter()
        for _ in range(repeats):
            fn()
        sync()
        return (time.perf_counter() - t) / repeats
    return measure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--rows", type=int, nargs="*", default=None)
    args = parser.parse_args()

    gpu = cuda_available()
    be = get_backend("gpu" if gpu else "cpu")
    xp = be.xp
    sync = xp.cuda.Device().synchronize if gpu else (lambda: None)
    measure = timer(sync, args.repeats)
    K, d = args.k, args.d
    X_host = make_data(args.n, d, K, dtype=np.float32)
    X = be.asarray(X_host)
    print(f"backend {be.name}; n={args.n} d={d} K={K} float32; default GPU chunk budget "
          f"{_stats.CHUNK_BYTES['gpu'] >> 20} MiB")

    # Parameters of a fit: its state after a couple of iterations.
    gm = varbayes.GaussianMixture(n_components=K, max_iter=2, tol=0, init_params="random_from_data",
                                  random_state=0).fit(X)
    cov = get_covariance("full", K, d)
    means, prec_chol = be.asarray(gm.means_), be.asarray(gm.precisions_cholesky_)
    log_const = be.asarray(np.log(gm.weights_)) + cov.log_det(xp, prec_chol) - 0.5 * d * np.log(2 * np.pi)
    terms = _stats.e_step_terms(be, cov, means, prec_chol, log_const, np.float32)
    print(f"forms: residual {terms.residual is not None}, expanded {terms.expanded is not None}")
    r = terms.residual
    auto = _stats.auto_chunk_size(be, cov, args.n, np.float32)
    rows_list = args.rows or sorted({min(auto, args.n), min(1 << 17, args.n), args.n})

    for rows in rows_list:
        Xc = X[:rows]
        ws = None
        with _pass_workspace():
            ws = workspace()
            R = residuals(xp, Xc, r.hi, r.lo, ws, augmented=cov.augmented)
            lr = cov.residual_mahalanobis(xp, R, r.terms) * -0.5 + terms.log_const[:, None]
            resp, _, _ = _stats.normalize_log_rho(be, lr.copy())
            t = {}
            t["residuals"] = measure(lambda: residuals(xp, Xc, r.hi, r.lo, ws, augmented=cov.augmented))
            t["whitening GEMM, sq norms"] = measure(lambda: cov.residual_mahalanobis(xp, R, r.terms))
            t["normalize_log_rho"] = measure(lambda: _stats.normalize_log_rho(be, lr.copy()))
            t["weighted residuals, GEMMs"] = measure(lambda: cov.centered_moments(xp, R, resp))
            t["e_step (whole piece)"] = measure(lambda: _stats.e_step(Xc, None, slice(0, rows), be, terms))
        flops = 2 * 2 * rows * K * d * d
        print(f"\nrows per piece {rows} ({rows * K * d * 4 / 2**20:.0f} MiB per (K, d, rows) array); "
              f"the two GEMMs' {flops / 1e9:.1f} GFLOP")
        for name, s in t.items():
            print(f"  {name:28s} {s * 1e3:9.3f} ms   x{args.n / rows:7.1f} pieces = {s * args.n / rows * 1e3:9.2f} ms/pass")
        R = lr = resp = None  # free the pieces before the next size
        if gpu:
            xp.get_default_memory_pool().free_all_blocks()

    print("\nwhole E-step pass over X (executor), by chunk budget:")
    original = dict(_stats.CHUNK_BYTES)
    for budget in (1 << 28, 1 << 29, 1 << 30, 1 << 31):
        _stats.CHUNK_BYTES[be.name] = budget
        size = _stats.auto_chunk_size(be, cov, args.n, np.float32)
        s = measure(lambda: ChunkExecutor(size).map_sum(_stats.e_step, X, None, be, terms))
        print(f"  budget {budget >> 20:6d} MiB  chunk {size:8d} rows: {s * 1e3:9.2f} ms")
    _stats.CHUNK_BYTES.update(original)

    print("\nGaussianMixture fit, seconds per iteration ((t(6) - t(2)) / 4), by chunk budget:")
    for budget in (1 << 28, 1 << 30, 1 << 31):
        _stats.CHUNK_BYTES[be.name] = budget

        def fit(i):
            sync()
            t0 = time.perf_counter()
            varbayes.GaussianMixture(n_components=K, max_iter=i, tol=0, init_params="random_from_data",
                                     random_state=0).fit(X)
            sync()
            return time.perf_counter() - t0
        fit(2)
        print(f"  budget {budget >> 20:6d} MiB: {(fit(6) - fit(2)) / 4 * 1e3:9.2f} ms/iter")
    _stats.CHUNK_BYTES.update(original)

    if gpu:
        try:
            import sklearn
            import sklearn.mixture
            import torch

            Xt = torch.asarray(X_host, device="cuda")

            def theirs(i):
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                with sklearn.config_context(array_api_dispatch=True):
                    sklearn.mixture.GaussianMixture(n_components=K, max_iter=i, tol=0, init_params="random_from_data",
                                                    random_state=0).fit(Xt)
                torch.cuda.synchronize()
                return time.perf_counter() - t0
            theirs(2)
            print(f"  scikit-learn's array-API path, CUDA tensor: {(theirs(6) - theirs(2)) / 4 * 1e3:9.2f} ms/iter")
        except Exception as exc:  # noqa: BLE001 - a reference only
            print(f"  scikit-learn's array-API path: {type(exc).__name__}: {exc}")

    print("\ncProfile of a 6-iteration fit (default budget), by own time:")
    prof = cProfile.Profile()
    prof.enable()
    varbayes.GaussianMixture(n_components=K, max_iter=6, tol=0, init_params="random_from_data",
                             random_state=0).fit(X)
    sync()
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(25)
    print("\n".join(out.getvalue().splitlines()[:45]))


if __name__ == "__main__":
    main()
