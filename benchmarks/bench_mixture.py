"""Mixture fits, varbayes beside scikit-learn, in one run.

Both libraries fit the same data from the same initial state for the same
number of iterations (tol=0), with BLAS limited to one thread.  Each model is
timed over ``--repeats`` fits interleaved with the other's (the fastest
counts: the least disturbed by other work on a shared machine).  Prints a table
of fit time, time ratio, peak extra memory (tracemalloc, relative to the size
of X) and the final per-sample score, and exits non-zero if the fitted means
disagree (for BayesianGaussianMixture only 'full' has the same updates as
scikit-learn, so only 'full' is compared).

    python benchmarks/bench_mixture.py                 # GaussianMixture, n=200000, d=20, K=10, full
    python benchmarks/bench_mixture.py --model bgmm    # BayesianGaussianMixture, same data
    python benchmarks/bench_mixture.py --n 20000 --iters 5 --covariance-type diag
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import sklearn
import sklearn.mixture

import varbayes


def make_data(n: int, d: int, k: int, seed: int = 0, dtype=np.float64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(scale=3.0, size=(k, d))
    labels = rng.integers(k, size=n)
    X = centers[labels] + rng.normal(size=(n, d))
    return X.astype(dtype)


def initial_params(X: np.ndarray, k: int, covariance_type: str, seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    var = X.var(axis=0)
    prec = {
        "full": np.stack([np.diag(1.0 / var)] * k),
        "tied": np.diag(1.0 / var),
        "diag": np.tile(1.0 / var, (k, 1)),
        "spherical": np.full(k, 1.0 / var.mean()),
    }[covariance_type]
    return {
        "weights_init": np.full(k, 1.0 / k),
        "means_init": X[rng.choice(X.shape[0], k, replace=False)].astype(np.float64),
        "precisions_init": prec,
    }


def timed_fit(est, X) -> float:
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        est.fit(X)
        return time.perf_counter() - t0


def peak_memory(est, X) -> int:
    """Peak of NumPy's allocations during a fit (tracemalloc)."""
    gc.collect()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracemalloc.start()
        est.fit(X)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=["gmm", "bgmm"], default="gmm")
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--covariance-type", default="full")
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed fits per model, interleaved; the fastest is reported")
    args = parser.parse_args()

    X = make_data(args.n, args.d, args.k, dtype=np.dtype(args.dtype))
    # scikit-learn computes initial responsibilities even when every initial
    # value is given; 'random_from_data' makes that step the cheapest for it.
    common = dict(
        n_components=args.k,
        covariance_type=args.covariance_type,
        tol=0.0,
        max_iter=args.iters,
        init_params="random_from_data",
        random_state=0,
    )
    if args.model == "gmm":
        init = initial_params(X, args.k, args.covariance_type)
        names = ("GaussianMixture", "GaussianMixture")
    else:
        init = {}  # the same random_state gives both the same initial responsibilities
        names = ("BayesianGaussianMixture", "BayesianGaussianMixture")
    models = [
        (f"sklearn {names[0]}", getattr(sklearn.mixture, names[0])(**common, **init)),
        (f"varbayes {names[1]}", getattr(varbayes, names[1])(**common, **init)),
    ]
    print(
        f"n={args.n} d={args.d} K={args.k} covariance_type={args.covariance_type} dtype={args.dtype} "
        f"iterations={args.iters} BLAS threads={args.threads} best of {args.repeats} interleaved fits "
        f"(sklearn {sklearn.__version__}, numpy {np.__version__}); X is {X.nbytes / 2**20:.1f} MiB"
    )
    rows = []
    with threadpool_limits(limits=args.threads):
        # Interleaved, so that a slow spell of a shared machine hits both.
        times = [[timed_fit(est, X) for _, est in models] for _ in range(args.repeats)]
        for i, (name, est) in enumerate(models):
            seconds = min(t[i] for t in times)
            rows.append((name, seconds, peak_memory(est, X), est.score(X), est))
    ref_time = rows[0][1]
    print(f"{'model':<36}{'fit s':>9}{'ratio':>8}{'peak MiB':>10}{'peak/X':>8}{'score/n':>14}")
    for name, seconds, peak, score, _ in rows:
        print(
            f"{name:<36}{seconds:>9.3f}{seconds / ref_time:>8.2f}{peak / 2**20:>10.1f}"
            f"{peak / X.nbytes:>8.2f}{score:>14.6f}"
        )
    ref, ours = rows[0][4], rows[1][4]
    err = np.max(np.abs(ours.means_ - ref.means_)) / np.max(np.abs(ref.means_))
    print(f"max relative difference of means_: {err:.2e}")
    if err > 1e-6 and (args.model == "gmm" or args.covariance_type == "full"):
        raise SystemExit("fitted parameters disagree")


if __name__ == "__main__":
    main()
