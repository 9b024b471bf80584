"""Out of core: fit a mixture on an np.memmap larger than a chunk budget and
report the peak extra memory.

Writes a float64 memmap of ``--gib`` GiB (d=20 columns, 10 unit-variance
clusters) block by block into ``--dir`` (a temporary folder by default, removed
afterwards), reopens it read-only and fits GaussianMixture ('random'
initialisation, ``--iters`` batch EM iterations) and the online fit (one
epoch, stepwise online EM, initialised from its first minibatch).  Peak extra
memory is NumPy's allocations during the fit, by tracemalloc: the pages of
the memmap that the kernel caches are not the fit's allocations and are not
counted.

    python benchmarks/bench_memmap.py                # 2 GiB
    python benchmarks/bench_memmap.py --gib 0.25     # a quick check
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

import varbayes

MIB = 2.0**20


def write_memmap(path: Path, n: int, d: int, k: int, block: int = 200_000) -> np.memmap:
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=3.0, size=(k, d))
    X = np.memmap(path, dtype=np.float64, mode="w+", shape=(n, d))
    for lo in range(0, n, block):
        m = min(block, n - lo)
        X[lo : lo + m] = centers[rng.integers(k, size=m)] + rng.normal(size=(m, d))
    X.flush()
    del X
    return np.memmap(path, dtype=np.float64, mode="r", shape=(n, d))


def measure(est, X) -> tuple[float, float]:
    tracemalloc.start()
    try:
        start = time.perf_counter()
        est.fit(X)
        elapsed = time.perf_counter() - start
        return tracemalloc.get_traced_memory()[1], elapsed
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0)
    parser.add_argument("--d", type=int, default=20)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where to write the memmap (default: a temporary folder)")
    args = parser.parse_args()
    n = int(args.gib * 2**30 / (8 * args.d))
    folder = Path(tempfile.mkdtemp(dir=args.dir))
    try:
        start = time.perf_counter()
        X = write_memmap(folder / "X.dat", n, args.d, args.k)
        write_time = time.perf_counter() - start
        size = X.nbytes
        fits = {
            f"GaussianMixture, batch EM ({args.iters} iterations)": varbayes.GaussianMixture(
                args.k, init_params="random", max_iter=args.iters, random_state=0
            ),
            "GaussianMixture, online EM (1 epoch)": varbayes.GaussianMixture(
                args.k, init_params="random_from_data", learning_method="online", max_iter=1, random_state=0
            ),
        }
        warnings.simplefilter("ignore")
        print(f"np.memmap of {size / 2**30:.2f} GiB (n={n}, d={args.d}, float64, written in {write_time:.0f} s), "
              f"K={args.k}, full covariance, 1 BLAS thread")
        print()
        print("| fit | time (s) | peak extra memory | / size of X |")
        print("|---|---:|---:|---:|")
        with threadpool_limits(1):
            for label, est in fits.items():
                peak, elapsed = measure(est, X)
                print(f"| {label} | {elapsed:.1f} | {peak / MIB:.1f} MiB | {peak / size:.4f} |", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
