"""Where the mixtures' speed advantage holds: seconds per EM iteration against
n, K and d, varbayes beside scikit-learn, in one run.

One axis varies at a time about the base shape n=200 000, d=20, K=10
(float64, 1 BLAS thread, the same data and initial parameters for both, tol=0
and a fixed number of iterations).  Each point is the fastest of
``--repeats`` fits of each side, interleaved; a row prints as soon as it is
measured.

    python benchmarks/bench_scaling.py                        # 'full'
    python benchmarks/bench_scaling.py --covariance-type diag
    python benchmarks/bench_scaling.py --axis n --iters 3     # one axis
"""

from __future__ import annotations

import argparse

from threadpoolctl import threadpool_limits

from bench_mixture import make_data, make_models, timed_fit

BASE = {"n": 200_000, "d": 20, "k": 10}
AXES = {
    "n": [20_000, 200_000, 2_000_000],
    "k": [2, 10, 30, 100],
    "d": [2, 20, 50, 100],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--covariance-type", default="full")
    parser.add_argument("--axis", choices=list(AXES), action="append", help="axes to sweep (default: all three)")
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(
        f"GaussianMixture covariance_type={args.covariance_type}, float64, {args.iters} iterations, "
        f"{args.threads} BLAS thread(s), best of {args.repeats}; base n={BASE['n']} d={BASE['d']} K={BASE['k']}"
    )
    print(f"{'n':>9}{'d':>5}{'K':>5}{'sklearn s/it':>14}{'ours s/it':>11}{'ratio':>7}")
    with threadpool_limits(limits=args.threads):
        for axis in args.axis or list(AXES):
            for value in AXES[axis]:
                shape = {**BASE, axis: value}
                X = make_data(shape["n"], shape["d"], shape["k"])
                ests = make_models("gmm", args.covariance_type, X, shape["k"], args.iters)
                times = [[timed_fit(est, X) for est in ests] for _ in range(args.repeats)]
                ref, ours = (min(t[i] for t in times) / args.iters for i in range(2))
                print(f"{shape['n']:>9}{shape['d']:>5}{shape['k']:>5}{ref:>14.4f}{ours:>11.4f}{ours / ref:>7.2f}",
                      flush=True)


if __name__ == "__main__":
    main()
