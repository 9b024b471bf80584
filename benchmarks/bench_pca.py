"""VB PCA beside scikit-learn's imputers and PCA, in one run.

Imputation: on scikit-learn's bundled digits (1797 x 64), diabetes
(442 x 10) and wine (178 x 13) data, 10%, 30% and 50% of the entries are
removed completely at random (the same mask for every method, one per
seed), and each method fills them in: SimpleImputer (column means),
KNNImputer (5 neighbours), IterativeImputer (BayesianRidge, 10 rounds) and
VBPCAImputer with isotropic and with per-column ('diagonal') noise, every
VB fit from n_components=None (n_features - 1; ARD chooses the dimension),
and VBMixturePCAImputer with 10 clusters (its defaults otherwise: isotropic
noise, a Dirichlet-process prior on the weights, at most 10 components per
cluster).
Printed: the RMSE over the removed entries (in the data's units) and the
time of fit + transform, averaged over the seeds.

Complete data: VBPCA against sklearn.decomposition.PCA (auto solver) on
n = 1 000 000, d = 100 (rank 10 plus unit noise), with the same
n_components (20) and with VBPCA's default (99, ARD): fit time and ratio.

One run, 1 BLAS thread.

    python benchmarks/bench_pca.py
    python benchmarks/bench_pca.py --quick      # one seed, n = 100 000
    python benchmarks/bench_pca.py --impute-only
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_diabetes, load_digits, load_wine
from sklearn.decomposition import PCA
from sklearn.experimental import enable_iterative_imputer  # noqa: F401
from sklearn.impute import IterativeImputer, KNNImputer, SimpleImputer
from threadpoolctl import threadpool_limits

from varbayes import VBPCA, VBMixturePCAImputer, VBPCAImputer

DATASETS = {"digits": load_digits, "diabetes": load_diabetes, "wine": load_wine}
FRACTIONS = (0.1, 0.3, 0.5)


def imputers(seed: int) -> dict:
    return {
        "mean": SimpleImputer(),
        "knn": KNNImputer(),
        "iterative": IterativeImputer(random_state=seed, max_iter=10),
        "vbpca iso": VBPCAImputer(random_state=seed),
        "vbpca diag": VBPCAImputer(noise_type="diagonal", random_state=seed),
        "vb mixture (10)": VBMixturePCAImputer(10, random_state=seed),
    }


def impute_table(seeds: int) -> None:
    names = list(imputers(0))
    print("| data | missing | " + " | ".join(f"{n} RMSE (s)" for n in names) + " |")
    print("|---|---:|" + "---:|" * len(names))
    for data, load in DATASETS.items():
        X = load().data.astype(np.float64)
        for fraction in FRACTIONS:
            rmse, secs = np.zeros(len(names)), np.zeros(len(names))
            for seed in range(seeds):
                rng = np.random.default_rng(seed)
                mask = rng.random(X.shape) < fraction
                rows = np.flatnonzero(mask.all(axis=1))
                mask[rows, rng.integers(X.shape[1], size=rows.size)] = False  # no row entirely missing
                Xm = np.where(mask, np.nan, X)
                for i, imp in enumerate(imputers(seed).values()):
                    start = time.perf_counter()
                    filled = imp.fit_transform(Xm)
                    secs[i] += time.perf_counter() - start
                    rmse[i] += np.sqrt(np.mean((filled - X)[mask] ** 2))
            rmse, secs = rmse / seeds, secs / seeds
            best = int(np.argmin(rmse))
            cells = [f"{'**' if i == best else ''}{r:.4g}{'**' if i == best else ''} ({s:.2f})"
                     for i, (r, s) in enumerate(zip(rmse, secs))]
            print(f"| {data} | {fraction:.0%} | " + " | ".join(cells) + " |", flush=True)


def pca_table(n: int) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 10)) @ rng.normal(size=(10, 100)) + rng.normal(size=(n, 100))
    print("\n| n_components | PCA s | VBPCA s | ratio | VBPCA sweeps | n_effective_components_ |")
    print("|---|---:|---:|---:|---:|---:|")
    for q, label in ((20, "20"), (None, "99 (VBPCA default; PCA(99))")):
        start = time.perf_counter()
        PCA(q if q else 99).fit(X)
        t_pca = time.perf_counter() - start
        start = time.perf_counter()
        vb = VBPCA(q).fit(X)
        t_vb = time.perf_counter() - start
        print(f"| {label} | {t_pca:.2f} | {t_vb:.2f} | {t_vb / t_pca:.2f} | {vb.n_iter_} | "
              f"{vb.n_effective_components_} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed and n = 100 000")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--impute-only", action="store_true", help="the imputation table only")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    with threadpool_limits(1):
        impute_table(1 if args.quick else args.seeds)
        if not args.impute_only:
            pca_table(100_000 if args.quick else 1_000_000)


if __name__ == "__main__":
    main()
