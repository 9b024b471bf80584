"""Dask: the same GaussianMixture fit in process and on LocalClusters of 1 and 2 workers.

The data (``--n`` rows, d=20, K=10 overlapping unit-variance clusters) is
generated block by block by the same seeded function, so every run fits the
same numbers: in process as one NumPy array, on a cluster as a Dask array
generated and persisted on the workers (never gathered) and spread evenly
over them (``rebalance``) before the clock starts.  Each fit runs
``--iters`` EM iterations (tol=0) from 'random_from_data' (the same K rows
everywhere), full covariance, float64.
Workers are processes with one thread each, and every process (this one
included) runs its BLAS on one thread.

Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536 (to hand
freed memory back to the system at once), which also fixes glibc's mmap
threshold at 128 KiB, so chunk-sized arrays allocated afresh are faulted in
every time; varbayes reuses each pass's chunk arrays, so this costs little
now (it cost 2.5x before).  ``--malloc-pad`` (default 64 MiB) sets the
workers' MALLOC_TRIM_THRESHOLD_ and MALLOC_TOP_PAD_ to it and their
MALLOC_MMAP_THRESHOLD_ to half of it; ``--malloc-pad 0`` keeps Dask's
defaults.  See docs/scaling.md.

The overhead of one graph round trip is the time of a pass whose step does
nothing (the same blocks, the same tree sum), median of ``--repeats``.

    python benchmarks/bench_dask.py                  # n = 4 000 000
    python benchmarks/bench_dask.py --n 400000       # a quick check
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy loads, and inherited by the workers

import argparse  # noqa: E402
from collections import Counter  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

D, K = 20, 10


def make_block(block_id: int, rows: int) -> np.ndarray:
    rng = np.random.default_rng([7, block_id])
    centers = np.random.default_rng(0).normal(scale=1.2, size=(K, D))
    return centers[rng.integers(K, size=rows)] + rng.normal(size=(rows, D))


def dask_data(n: int, block: int):
    import dask
    import dask.array as da

    sizes = [min(block, n - lo) for lo in range(0, n, block)]
    parts = [da.from_delayed(dask.delayed(make_block)(i, m), shape=(m, D), dtype=np.float64) for i, m in enumerate(sizes)]
    return da.concatenate(parts)


def _noop(Xc, weights, rows):
    return np.zeros(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4_000_000)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--block", type=int, default=250_000, help="rows per Dask block")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--malloc-pad", type=int, default=64 * 2**20,
                        help="MALLOC_TRIM_THRESHOLD_ and MALLOC_TOP_PAD_ of the workers in bytes (0: Dask's defaults)")
    args = parser.parse_args()

    import dask
    from distributed import Client, LocalCluster, wait

    import varbayes
    from varbayes._execution import DaskExecutor

    warnings.simplefilter("ignore")
    kw = dict(n_components=K, init_params="random_from_data", random_state=0, max_iter=args.iters, tol=0.0)
    rows = []
    placement = []

    X = np.concatenate([make_block(i, min(args.block, args.n - lo)) for i, lo in enumerate(range(0, args.n, args.block))])
    start = time.perf_counter()
    ref = varbayes.GaussianMixture(**kw).fit(X)
    in_process = time.perf_counter() - start
    rows.append(("in process (NumPy, 1 thread)", in_process, None, 0.0))
    del X

    pad = args.malloc_pad
    environ = {
        "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": pad,
        "distributed.nanny.pre-spawn-environ.MALLOC_TOP_PAD_": pad,
        "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": pad // 2,
    } if pad else {}
    for workers in (1, 2):
        with dask.config.set(environ), LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                          silence_logs=40, memory_limit=None) as cluster, Client(cluster) as client:
            Xd = client.persist(dask_data(args.n, args.block))
            wait(Xd)
            # Where the scheduler put the blocks decides how the work splits:
            # spread them evenly (as a user would after loading), and say so.
            client.rebalance(Xd)
            held = Counter(w for keys in client.who_has(Xd).values() for w in keys)
            placement.append("/".join(str(c) for c in sorted(held.values(), reverse=True)))
            with dask.config.set(scheduler=client):
                start = time.perf_counter()
                est = varbayes.GaussianMixture(**kw).fit(Xd)
                elapsed = time.perf_counter() - start
                executor = DaskExecutor(1024)
                trips = []
                for _ in range(args.repeats):
                    t0 = time.perf_counter()
                    executor.map_sum(_noop, Xd, None)
                    trips.append(time.perf_counter() - t0)
            diff = float(np.max(np.abs(est.means_ - ref.means_)))
            rows.append((f"LocalCluster, {workers} worker process{'es' if workers > 1 else ''} x 1 thread", elapsed,
                         float(np.median(trips)), diff))

    n_blocks = -(-args.n // args.block)
    print(f"GaussianMixture, full covariance, n={args.n}, d={D}, K={K}, float64, {args.iters} EM iterations, "
          f"{n_blocks} blocks of {args.block} rows; workers' MALLOC_TRIM_THRESHOLD_ and MALLOC_TOP_PAD_ (MALLOC_MMAP_THRESHOLD_ half): "
          f"{pad if pad else 'Dask defaults'}")
    print()
    print("| run | fit (s) | per iteration (s) | vs in process | graph round trip (ms) | max |means - in process| |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, t, trip, diff in rows:
        trip_text = "" if trip is None else f"{1e3 * trip:.1f}"
        print(f"| {label} | {t:.2f} | {t / args.iters:.3f} | {t / in_process:.2f} | {trip_text} | {diff:.1e} |")
    print()
    print(f"speed-up from 1 to 2 workers: {rows[1][1] / rows[2][1]:.2f}x; "
          f"1 worker against in process: {rows[1][1] / in_process:.2f}x; "
          f"blocks per worker: {', '.join(placement)}")


if __name__ == "__main__":
    main()
