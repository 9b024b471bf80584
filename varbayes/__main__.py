"""Command line: ``python -m varbayes demo`` and ``python -m varbayes fit``.

The demo fits every varbayes estimator on scikit-learn's bundled digits data
(1797 images of 8x8 pixels, scaled to [0, 1]; VBPCA with 30% of the pixels
removed, which it then imputes), prints a table of the final
ELBO, iterations, time and whether the ELBO rose monotonically, and writes a
PNG of the ELBO curves.  The ``fit`` command is in :mod:`varbayes._cli`.
"""

from __future__ import annotations

import sys
import time
import warnings
from typing import Any, Callable, Sequence



def _demo_models(seed: int) -> list[tuple[str, Callable[[], Any]]]:
    """(label, factory) of each estimator the demo fits."""
    from varbayes import VAE, VBPCA, BayesianGaussianMixture, GaussianMixture

    return [
        (
            "GaussianMixture (EM, full)",
            lambda: GaussianMixture(n_components=10, covariance_type="full", reg_covar=1e-2, tol=1e-5, random_state=seed),
        ),
        (
            "GaussianMixture (EM, diag)",
            lambda: GaussianMixture(n_components=10, covariance_type="diag", reg_covar=1e-2, tol=1e-5, random_state=seed),
        ),
        (
            "BayesianGaussianMixture (CAVI, diag)",
            lambda: BayesianGaussianMixture(
                n_components=20, covariance_type="diag", weight_concentration_prior=1e-2,
                degrees_of_freedom_prior=2.0, reg_covar=1e-2,
                random_state=seed, max_iter=300,
            ),
        ),
        (
            "VAE (Bernoulli, 64-128-8)",
            lambda: VAE(
                n_components=8, hidden_layer_sizes=(128,), likelihood="bernoulli", max_iter=30, random_state=seed
            ),
        ),
        (
            f"VBPCA (CAVI, {MISSING:.0%} pixels missing)",
            lambda: VBPCA(n_components=20, noise_type="diagonal", random_state=seed),
        ),
    ]


#: The share of pixels the demo removes for VBPCA, which fits the rest as they are.
MISSING = 0.3


def demo(output: str = "varbayes_demo.png", seed: int = 0, plot: bool = True) -> list[dict]:
    """Fit every estimator on the digits data, print a table, plot the ELBO curves.

    Parameters
    ----------
    output : str, default='varbayes_demo.png'
        Path of the PNG of ELBO curves.
    seed : int, default=0
        random_state of every estimator.
    plot : bool, default=True
        Write the PNG (needs matplotlib).

    Returns
    -------
    list of dict
        One row per estimator: model, elbo, n_iter, seconds, monotone.
    """
    from sklearn.datasets import load_digits

    import numpy as np

    X = load_digits().data / 16.0
    mask = np.random.default_rng(seed).random(X.shape) < MISSING
    X_missing = np.where(mask, np.nan, X)
    rows, fitted = [], []
    print(f"varbayes demo: digits data, {X.shape[0]} samples x {X.shape[1]} features, values in [0, 1]")
    for label, factory in _demo_models(seed):
        est = factory()
        data = X_missing if label.startswith("VBPCA") else X
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            est.fit(data)
        seconds = time.perf_counter() - start
        tracker = est.elbo_
        rows.append(
            {
                "model": label,
                "elbo": float(tracker.values[-1]),
                "n_iter": int(est.n_iter_),
                "seconds": seconds,
                "monotone": ("yes" if tracker.is_monotone() else "no") if tracker.monotone else "n/a (stochastic)",
            }
        )
        fitted.append((label, est))
    width = max(len(r["model"]) for r in rows) + 2
    print(f"{'model':<{width}}{'final ELBO (nats/sample)':>26}{'iterations':>12}{'time (s)':>10}  monotone")
    for r in rows:
        print(f"{r['model']:<{width}}{r['elbo']:>26.4f}{r['n_iter']:>12d}{r['seconds']:>10.2f}  {r['monotone']}")
    pca = next(est for label, est in fitted if label.startswith("VBPCA"))
    filled = pca.impute(X_missing)
    rmse = float(np.sqrt(np.mean((filled - X)[mask] ** 2)))
    means = float(np.sqrt(np.mean((np.nanmean(X_missing, axis=0) - X)[mask] ** 2)))
    print(f"VBPCA filled the missing pixels with RMSE {rmse:.3f} (column means: {means:.3f}); "
          f"it kept {pca.n_effective_components_} of its {pca.n_components_} components")
    if plot:
        _plot(fitted, output)
        print(f"ELBO curves written to {output}")
    return rows


def _plot(fitted: Sequence[tuple[str, Any]], output: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(fitted), figsize=(5 * len(fitted), 4), squeeze=False)
    for ax, (label, est) in zip(axes[0], fitted):
        est.elbo_.plot(ax=ax, label=label)
        ax.set_title(label, fontsize="medium")
    fig.tight_layout()
    fig.savefig(output, dpi=100)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m varbayes`` and the ``varbayes`` script.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; ``sys.argv[1:]`` when None.

    Returns
    -------
    int
        The exit status: 0 on success, 2 for a bad file or option (one line
        ``varbayes: error: ...`` on stderr), 1 for a fit that failed.
    """
    from ._cli import CLIError, OneLineParser, add_fit_parser, run_fit, unrecognized

    parser = OneLineParser(
        prog="varbayes",
        description="Variational inference with the scikit-learn API.",
        epilog="Run 'varbayes COMMAND --help' for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p_demo = sub.add_parser(
        "demo",
        help="fit every estimator on the bundled digits data and plot the ELBO curves",
        description="Fit every estimator on scikit-learn's bundled digits data, print a table and plot the ELBO curves.",
    )
    p_demo.add_argument("--output", default="varbayes_demo.png", help="PNG file for the ELBO curves (default: %(default)s)")
    p_demo.add_argument("--seed", type=int, default=0, help="random_state of every estimator (default: %(default)s)")
    p_demo.add_argument("--no-plot", action="store_true", help="skip the PNG (no matplotlib needed)")
    models = add_fit_parser(sub)
    try:
        args, extras = parser.parse_known_args(argv)
        if extras:  # point to the sub-command's help, not the program's
            target = p_demo if args.command == "demo" else models[args.model]
            target.error(unrecognized(extras, target))
        if args.command == "demo":
            demo(output=args.output, seed=args.seed, plot=not args.no_plot)
            return 0
        return run_fit(args)
    except CLIError as exc:
        print(f"varbayes: error: {exc}", file=sys.stderr)
        return exc.status
    except SystemExit as exc:  # --help and argparse's errors, as a status for callers of main()
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except KeyboardInterrupt:
        print("varbayes: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
