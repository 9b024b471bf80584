"""Mixture fits on a CUDA GPU (CuPy) beside the same fits on the CPU, in one run.

Each case fits the same data from the same initial state for the same number
of iterations (tol=0) three ways: scikit-learn on the CPU, varbayes on the
CPU (NumPy), varbayes on the GPU (a CuPy array in, ``device='auto'``), and,
when PyTorch sees the GPU, varbayes under scikit-learn's array-API dispatch
with a CUDA tensor in (DLPack to CuPy, attributes back as tensors).  The CPU
sides use ``--threads`` BLAS threads (all cores by default: the fair peer
for a GPU is the whole machine).  Prints seconds per iteration (best of
``--repeats``, after one warm-up fit that compiles CuPy's kernels), the
speed-up of the GPU over each CPU side, and the largest difference of the
fitted means from the CPU fit; exits non-zero if they disagree.

    python benchmarks/bench_gpu.py                      # n=1e6, d=20, K=10, GMM full/diag + BGMM full
    python benchmarks/bench_gpu.py --n 200000 --iters 5 --threads 1
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, os.path.dirname(__file__))
from bench_mixture import initial_params, make_data, timed_fit  # noqa: E402

import sklearn  # noqa: E402
import sklearn.mixture  # noqa: E402

import varbayes  # noqa: E402

CASES = [("gmm", "full"), ("gmm", "diag"), ("bgmm", "full")]


def _models(model: str, covariance_type: str, X: np.ndarray, k: int, iters: int) -> tuple:
    common = dict(n_components=k, covariance_type=covariance_type, tol=0.0, max_iter=iters,
                  init_params="random_from_data", random_state=0)
    init = initial_params(X, k, covariance_type) if model == "gmm" else {}
    name = "GaussianMixture" if model == "gmm" else "BayesianGaussianMixture"
    return getattr(sklearn.mixture, name)(**common, **init), getattr(varbayes, name)(**common, **init)


def synced_fit_seconds(est, X, sync=lambda: None) -> float:
    """A fit's seconds (warnings silenced), the device synchronised before and after."""
    sync()
    t = timed_fit(est, X)
    sync()
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="BLAS threads of the CPU sides (default: all)")
    parser.add_argument("--models", nargs="+", default=["gmm", "bgmm"], choices=["gmm", "bgmm"])
    args = parser.parse_args()

    import cupy

    try:
        import torch
        has_torch = torch.cuda.is_available()
    except ImportError:
        has_torch = False
    sync = cupy.cuda.Device().synchronize
    print(f"GPU: {cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}, CPU threads: "
          f"{args.threads or os.cpu_count()}, n={args.n}, d={args.d}, K={args.k}, {args.iters} iterations, float64")
    header = f"{'model':<6}{'cov':<6}{'sklearn s/it':>13}{'ours CPU':>10}{'ours GPU':>10}{'torch-in':>10}" \
             f"{'GPU vs sk':>11}{'GPU vs CPU':>11}{'max |dmean|':>13}"
    print(header)
    failed = False
    X = make_data(args.n, args.d, args.k)
    X_gpu = cupy.asarray(X)
    X_torch = torch.asarray(X, device="cuda") if has_torch else None
    for model, cov in (case for case in CASES if case[0] in args.models):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _, warm = _models(model, cov, X[:20_000], args.k, 2)
            warm.fit(cupy.asarray(X[:20_000]))  # compiles the kernels this case uses
        times = {"sk": [], "cpu": [], "gpu": [], "torch": []}
        for _ in range(args.repeats):
            sk, ours_cpu = _models(model, cov, X, args.k, args.iters)
            _, ours_gpu = _models(model, cov, X, args.k, args.iters)
            with threadpool_limits(limits=args.threads):
                times["sk"].append(timed_fit(sk, X))
                times["cpu"].append(timed_fit(ours_cpu, X))
            times["gpu"].append(synced_fit_seconds(ours_gpu, X_gpu, sync))
            if has_torch:
                _, ours_torch = _models(model, cov, X, args.k, args.iters)
                with sklearn.config_context(array_api_dispatch=True):
                    times["torch"].append(synced_fit_seconds(ours_torch, X_torch, sync))
        best = {key: min(v) / args.iters if v else float("nan") for key, v in times.items()}
        diff = float(np.max(np.abs(ours_gpu.means_ - ours_cpu.means_)))
        if has_torch:  # the tensor's fit too (its means are CUDA tensors)
            diff = max(diff, float(np.max(np.abs(ours_torch.means_.cpu().numpy() - ours_cpu.means_))))
        failed |= not diff < 1e-6 * max(1.0, float(np.max(np.abs(ours_cpu.means_))))
        print(f"{model:<6}{cov:<6}{best['sk']:>13.4f}{best['cpu']:>10.4f}{best['gpu']:>10.4f}{best['torch']:>10.4f}"
              f"{best['sk'] / best['gpu']:>10.1f}x{best['cpu'] / best['gpu']:>10.1f}x{diff:>13.2e}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
