"""The GPU check: the GPU tests, then the mixtures and the VAE on the GPU beside their peers, one table.

Run on a machine with an NVIDIA GPU, CuPy and PyTorch (CUDA)::

    python benchmarks/gpu_check.py                       # ~5 minutes on an H200 machine
    python benchmarks/gpu_check.py --skip-tests --out gpu_check.md
    python benchmarks/gpu_check.py --profile --out gpu_check.md   # also where the E-step's time goes

1. ``pytest -m gpu``: every GPU test (CPU and GPU fits from the same start,
   the errors, Dask arrays of CuPy blocks, CUDA tensors under dispatch).
2. Mixtures, n x d float32 with K components (default 10^6 x 32, K = 32,
   'full'), ``init_params='random_from_data'``, tol=0: seconds per
   iteration of scikit-learn on the CPU (every core), of scikit-learn's own
   array-API GaussianMixture on a PyTorch CUDA tensor, and of ours on CuPy
   and on a CUDA tensor under dispatch.  An iteration's time is the
   difference of two fits of different lengths over the difference of their
   iterations, so the initialisation is not counted on any side.  For ours
   also: the CuPy memory pool after fits of the two lengths (equal when the
   iterations allocate nothing new) and the device-to-host copies per
   iteration through the backend's ``to_numpy`` (the bound's scalars; the
   single values that per-chunk checks read with ``bool(...)`` are not
   counted).
3. The VAE of pytorch/examples (784-400-20, batch 128, Bernoulli, Adam) for
   one epoch of 60 000 images on the GPU, ours (CuPy) beside PyTorch's
   (``benchmarks/bench_vae.py --device gpu``).

Without CUDA the GPU parts are skipped (said so, exit 0) and the CPU sides
still run, so the script can be tried on any machine (``--n 20000``).
"""

from __future__ import annotations

import argparse
import contextlib
import os

# scikit-learn's array-API dispatch needs SciPy's, which reads this when SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
import subprocess  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import bench_vae  # noqa: E402
from bench_gpu import synced_fit_seconds  # noqa: E402
from bench_mixture import make_data  # noqa: E402

import sklearn  # noqa: E402
import sklearn.mixture  # noqa: E402

import varbayes  # noqa: E402
import varbayes._backend as backend  # noqa: E402
from varbayes._backend import cuda_available  # noqa: E402


def per_iteration(make, X, short: int, long: int, sync=lambda: None) -> float:
    """Seconds per iteration: (t(long) - t(short)) / (long - short)."""
    return (synced_fit_seconds(make(long), X, sync) - synced_fit_seconds(make(short), X, sync)) / (long - short)


@contextlib.contextmanager
def counting_host_copies():
    """Count the backend's device-to-host copies of CuPy arrays (``to_numpy``)."""
    count = [0]
    original = backend.to_numpy

    def counted(a):
        if backend.is_gpu_array(a):
            count[0] += 1
        return original(a)

    backend.to_numpy = counted
    try:
        yield count
    finally:
        backend.to_numpy = original


def _measured(row: dict, key: str, measure) -> None:
    """``row[key] = measure()``, or the error's name in its place: one failed
    measurement does not cost the rest of a device run."""
    try:
        row[key] = measure()
    except Exception as exc:  # noqa: BLE001 - reported in the table
        row[key] = f"{type(exc).__name__}: {str(exc)[:60]}"


def gpu_mixture_columns(args, X: np.ndarray, rows: dict, report) -> None:
    """Every GPU column of both rows, ``report()`` after each measurement."""
    import cupy
    import torch

    sync = cupy.cuda.Device().synchronize
    X_gpu = cupy.asarray(X)
    X_torch = torch.asarray(X, device="cuda")
    for name, row in rows.items():
        theirs, ours = getattr(sklearn.mixture, name), getattr(varbayes, name)
        common = row.pop("_common")
        def ours_gpu():
            per_iteration(lambda i: ours(max_iter=i, **common), X_gpu[:20_000], 1, 2, sync)  # compile kernels
            return per_iteration(lambda i: ours(max_iter=i, **common), X_gpu, 2, args.iters, sync)

        _measured(row, "ours GPU", ours_gpu)
        report()
        with sklearn.config_context(array_api_dispatch=True):
            _measured(row, "ours, CUDA tensor", lambda: per_iteration(
                lambda i: ours(max_iter=i, **common), X_torch, 2, args.iters, torch.cuda.synchronize))
            if name == "GaussianMixture":  # scikit-learn's array-API path (its BGMM has none)
                def sklearn_cuda():
                    per_iteration(lambda i: theirs(max_iter=i, **common), X_torch[:20_000], 1, 2,
                                  torch.cuda.synchronize)
                    return per_iteration(lambda i: theirs(max_iter=i, **common), X_torch, 2, args.iters,
                                         torch.cuda.synchronize)
                _measured(row, "sklearn CUDA tensor", sklearn_cuda)
        def pool_and_copies():
            pool = cupy.get_default_memory_pool()
            sizes, copies = [], []
            for iters in (2, args.iters):
                pool.free_all_blocks()
                with counting_host_copies() as count:
                    synced_fit_seconds(ours(max_iter=iters, **common), X_gpu, sync)
                sizes.append(pool.total_bytes() / 2**20)
                copies.append(count[0])
            row["copies/iter"] = f"{(copies[1] - copies[0]) / (args.iters - 2):.1f}"
            return f"{sizes[0]:.0f} / {sizes[1]:.0f}"

        _measured(row, "pool MiB", pool_and_copies)
        report()
        row["_common"] = common


def _format(name: str, row: dict) -> str:
    def number(key, fmt):
        return format(row[key], fmt) if isinstance(row.get(key), float) else str(row.get(key, "-"))

    def ratio(a, b, fmt):
        ok = isinstance(row.get(a), float) and isinstance(row.get(b), float)
        return format(row[a] / row[b], fmt) + "x" if ok else "-"

    cells = [name, number("sklearn CPU", ".3f")]
    cells += [number(key, ".4f") for key in ("sklearn CUDA tensor", "ours GPU", "ours, CUDA tensor")]
    cells += [ratio("sklearn CPU", "ours GPU", ".0f"), ratio("sklearn CUDA tensor", "ours GPU", ".1f")]
    cells += [row.get("pool MiB", "-"), row.get("copies/iter", "-")]
    return "| " + " | ".join(cells) + " |"


def vae_rows(gpu: bool) -> list[str]:
    if not gpu:
        return ["| VAE | (no CUDA device: skipped) | | | |"]
    Xtr, Xte, source = bench_vae.load_data(bench_vae.DEFAULT_DIR, 0)
    try:
        ours = bench_vae.run_varbayes(Xtr, Xte, 1, 0, device="gpu")
        theirs = bench_vae.run_torch(Xtr, Xte, 1, 0, os.cpu_count(), device="gpu")
    except Exception as exc:  # noqa: BLE001 - reported in the table
        return [f"| VAE | {type(exc).__name__}: {str(exc)[:80]} | | | |"]
    a, b = ours["epoch_times"][0], theirs["epoch_times"][0]
    return [f"| VAE 784-400-20, one epoch of 60 000 ({source.split(' (')[0]}) | {a:.2f} | {b:.2f} | {a / b:.2f}x "
            f"| {ours['held_out']:.1f} / {theirs['held_out']:.1f} |"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--d", type=int, default=32)
    parser.add_argument("--k", type=int, default=32)
    parser.add_argument("--iters", type=int, default=10, help="the longer GPU fit's iterations (the shorter: 2)")
    parser.add_argument("--cpu-iters", type=int, default=1, help="iterations scikit-learn's CPU fit times")
    parser.add_argument("--skip-tests", action="store_true")
    parser.add_argument("--profile", action="store_true",
                        help="after the tests, run benchmarks/profile_gpu.py (about a minute) and keep its "
                             "report beside --out (or print it)")
    parser.add_argument("--out", default=None, help="also write the table to this file")
    args = parser.parse_args()

    gpu = cuda_available()
    head = []
    if not gpu:
        head.append("No CUDA device (or no CuPy): the GPU tests and every GPU column are skipped.")
    elif not args.skip_tests:
        tests = subprocess.run([sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider"],
                               capture_output=True, text=True)
        last = (tests.stdout.strip().splitlines() or ["no output"])[-1]
        head.append(f"GPU tests: {last} (pytest -m gpu, exit {tests.returncode})")
    if gpu and args.profile:
        profile = subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "profile_gpu.py"),
                                  "--n", str(args.n), "--d", str(args.d), "--k", str(args.k)],
                                 capture_output=True, text=True)
        report_text = profile.stdout + (profile.stderr[-2000:] if profile.returncode else "")
        if args.out:
            with open(os.path.splitext(args.out)[0] + "_profile.txt", "w") as f:
                f.write(report_text)
        else:
            print(report_text)
        head.append(f"E-step profile: benchmarks/profile_gpu.py, exit {profile.returncode}")
    if args.profile and not gpu:
        head.append("E-step profile: skipped (no CUDA device)")
    if gpu:
        import cupy

        head.append(f"GPU: {cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}; CPU: {os.cpu_count()} "
                    f"cores; numpy {np.__version__}, scikit-learn {sklearn.__version__}, cupy {cupy.__version__}")
    common = dict(n_components=args.k, covariance_type="full", tol=0.0, init_params="random_from_data",
                  random_state=0)
    rows = {name: {"_common": common} for name in ("GaussianMixture", "BayesianGaussianMixture")}
    vae = ["| VAE | (not run yet) | | | |"]

    def report(final: bool = False) -> None:
        """The table so far, to --out (rewritten after each measurement, so a
        run stopped by a time limit keeps what it measured), and at the end to stdout."""
        lines = head + ["", f"Mixtures, 'full', n={args.n}, d={args.d}, K={args.k}, float32, seconds per iteration:",
                        "", "| model | scikit-learn CPU | scikit-learn, CUDA tensor | ours GPU | ours, CUDA tensor "
                        "| ours GPU vs sklearn CPU | vs sklearn CUDA | CuPy pool MiB (2 / long fit) "
                        "| host copies / iter |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [_format(name, row) for name, row in rows.items()]
        lines += ["", "| VAE | ours GPU s/epoch | PyTorch CUDA s/epoch | ratio | held-out ELBO ours / PyTorch |",
                  "|---|---:|---:|---:|---:|"] + vae
        text = "\n".join(lines)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text + "\n")
        if final:
            print(text)

    # The GPU columns first, the slow CPU ones last.
    X = make_data(args.n, args.d, args.k, dtype=np.float32)
    if gpu:
        gpu_mixture_columns(args, X, rows, report)
    vae[:] = vae_rows(gpu)
    report()
    for name, row in rows.items():
        theirs = getattr(sklearn.mixture, name)
        _measured(row, "sklearn CPU", lambda: per_iteration(lambda i: theirs(max_iter=i, **common), X, 1,
                                                            1 + args.cpu_iters))
        report()
    report(final=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
