"""The evidence lower bound, recorded step by step: one tracker for every estimator.

For any distribution q(z) over the latent variables,

    log p(X) = ELBO(q) + KL(q(z) || p(z | X)),
    ELBO(q)  = E_q[log p(X, z)] - E_q[log q(z)]

(Bishop (2006), eq. 10.2-10.4), so the ELBO is a lower bound on the log
evidence.  Every varbayes estimator records its ELBO, divided by the number of
samples (nats per sample), in an :class:`ELBOTracker` available after fitting
as ``estimator.elbo_``.
"""

from __future__ import annotations

import time
import warnings
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["ELBOTracker", "ELBODecreaseWarning", "plot_elbo"]


class ELBODecreaseWarning(UserWarning):
    """The ELBO of an algorithm that guarantees ascent went down.

    Emitted by :meth:`ELBOTracker.record` for deterministic algorithms (EM,
    CAVI) when a recorded value is lower than the previous one by more than
    the tracker's tolerance.  It signals a bug or a numerical problem, never
    convergence; the test suite turns it into an error.
    """


def _import_pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise ImportError(
            "Plotting needs matplotlib: install the 'plot' extra "
            "(pip install 'varbayes[plot]')."
        ) from exc
    return plt


class ELBOTracker:
    """Per-step record of the evidence lower bound and its terms.

    Parameters
    ----------
    monotone : bool, default=False
        Whether the algorithm guarantees that the ELBO never decreases from
        one record to the next (EM, CAVI).  If True, a decrease larger than
        the tolerance emits :class:`ELBODecreaseWarning`.
    rtol : float, default=1e-10
        Relative tolerance for a decrease: a step from ``a`` to ``b`` is a
        decrease when ``a - b > rtol * max(1, |a|)``.  Rounding makes exact
        ascent impossible to observe; estimators pass a tolerance that fits
        their dtype.
    name : str, optional
        A label used by :func:`plot_elbo`.

    Attributes
    ----------
    values : ndarray of shape (n_records,)
        The ELBO per sample (nats) at each record, float64.
    steps : list of str
        The label of each record (e.g. 'E', 'M', 'iter', 'q(Z)', 'epoch').
    terms : dict of str to ndarray
        Named terms of the ELBO (expected log-likelihood, KL divergences,
        entropies), each aligned with ``values``; NaN where a record did not
        give that term.
    times : ndarray of shape (n_records,)
        Wall-clock seconds since the tracker was created, at each record.
    """

    def __init__(self, monotone: bool = False, rtol: float = 1e-10, name: str | None = None) -> None:
        self.monotone = monotone
        self.rtol = rtol
        self.name = name
        self._values: list[float] = []
        self._allowances: list[float] = []
        self._errors: list[float] = []
        self.steps: list[str] = []
        self._terms: dict[str, list[float]] = {}
        self._times: list[float] = []
        self._start = time.perf_counter()

    # -- recording ----------------------------------------------------------
    def record(
        self,
        value: float,
        step: str = "iter",
        terms: Mapping[str, float] | None = None,
        allowance: float = 0.0,
        error: float = 0.0,
    ) -> None:
        """Append one ELBO value (per sample) with its step label and terms.

        Parameters
        ----------
        value : float
            The ELBO per sample after this step.
        step : str, default='iter'
            Label of the step.
        terms : mapping of str to float, optional
            Named terms of the ELBO at this step.
        allowance : float, default=0.0
            A decrease that the algorithm's theory permits at this step, in
            nats per sample, added to the tolerance (for example the effect of
            ``reg_covar``, which makes an M-step maximise a penalised bound).
        error : float, default=0.0
            A bound on the rounding error of ``value`` beyond the relative
            tolerance, in nats per sample (e.g. of a bound computed from
            summed statistics, where an ill-conditioned covariance amplifies
            their rounding); it widens the check of the steps into and out
            of this record.

        Warns with :class:`ELBODecreaseWarning` when the tracker is monotone and
        the value is lower than the previous one beyond the step's
        :meth:`tolerance` (relative tolerance, allowance and both records'
        rounding errors).
        """
        value = float(value)
        n = len(self._values)
        if self.monotone and n and np.isfinite(value):
            prev = self._values[-1]
            drop = prev - value
            if drop > self.tolerance(prev) + allowance + self._errors[-1] + error:
                warnings.warn(
                    f"ELBO decreased by {drop:.3e} nats/sample at record {n} "
                    f"(step {self.steps[-1]!r} -> {step!r}: {prev:.10g} -> "
                    f"{value:.10g}). The algorithm guarantees ascent, so this "
                    "is a numerical problem (try float64 or a larger "
                    "reg_covar) or a bug.",
                    ELBODecreaseWarning,
                    stacklevel=3,
                )
        for key in terms or {}:
            if key not in self._terms:
                self._terms[key] = [np.nan] * n
        for key, column in self._terms.items():
            column.append(float(terms[key]) if terms and key in terms else np.nan)
        self._values.append(value)
        self._allowances.append(float(allowance))
        self._errors.append(float(error))
        self.steps.append(str(step))
        self._times.append(time.perf_counter() - self._start)

    def truncate(self, n_records: int) -> None:
        """Drop every record after the first ``n_records`` (e.g. when a
        stochastic fit rolls back epochs that diverged)."""
        for column in (self._values, self._allowances, self._errors, self.steps, self._times, *self._terms.values()):
            del column[n_records:]

    def tolerance(self, reference: float, tol: float | None = None) -> float:
        """The relative tolerance for a step from a record of value ``reference``:
        ``rtol * max(1, |reference|)`` (``tol`` in place of ``rtol`` when given)."""
        rtol = self.rtol if tol is None else tol
        return rtol * max(1.0, abs(reference))

    # -- views ----------------------------------------------------------------
    @property
    def values(self) -> np.ndarray:
        """The recorded ELBO values, nats per sample (float64 array)."""
        return np.asarray(self._values, dtype=np.float64)

    @property
    def terms(self) -> dict[str, np.ndarray]:
        """Named ELBO terms, each a float64 array aligned with :attr:`values`."""
        return {k: np.asarray(v, dtype=np.float64) for k, v in self._terms.items()}

    @property
    def allowances(self) -> np.ndarray:
        """The permitted decrease recorded with each value (0 where none)."""
        return np.asarray(self._allowances, dtype=np.float64)

    @property
    def errors(self) -> np.ndarray:
        """The rounding-error bound recorded with each value (0 where none)."""
        return np.asarray(self._errors, dtype=np.float64)

    @property
    def times(self) -> np.ndarray:
        """Seconds since the tracker was created, at each record."""
        return np.asarray(self._times, dtype=np.float64)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        last = f", last={self._values[-1]:.6g}" if self._values else ""
        return f"ELBOTracker(n_records={len(self)}, monotone={self.monotone}{last})"

    def select(self, step: str) -> np.ndarray:
        """The values recorded with the given step label."""
        mask = np.asarray(self.steps) == step
        return self.values[mask] if len(self) else self.values

    # -- checks -----------------------------------------------------------------
    def decreases(self, tol: float | None = None) -> list[tuple[int, float]]:
        """Where the ELBO went down, and by how much.

        Parameters
        ----------
        tol : float, optional
            Relative tolerance (see ``rtol``); defaults to the tracker's.

        Returns
        -------
        list of (int, float)
            For each decrease beyond the tolerance plus the recorded
            allowance and rounding errors, the index of the lower record and
            the size of the drop in nats per sample.
        """
        v = self.values
        allow = self.allowances
        err = self.errors
        out = []
        for i in range(1, v.size):
            drop = v[i - 1] - v[i]
            if drop > self.tolerance(v[i - 1], tol) + allow[i] + err[i - 1] + err[i]:
                out.append((i, float(drop)))
        return out

    def is_monotone(self, tol: float | None = None) -> bool:
        """True when no record is lower than its predecessor beyond ``tol``."""
        return not self.decreases(tol)

    # -- plotting -----------------------------------------------------------
    def positions(self) -> tuple[np.ndarray, str]:
        """Where each record sits on the x-axis, and the axis's unit.

        A run records one kind of step per iteration (the local step of
        a conjugate model, 'E' for EM), optionally preceded by records of
        its global updates ('M' for EM, the CAVI factors): each record of
        that first kind ends an iteration and sits at a whole number, and
        the records between two of them share the interval evenly (EM's
        M-step at t - 0.5).  The unit is 'epoch' or 'minibatch' for runs
        that count those, else 'iteration'.

        Returns
        -------
        x : ndarray of shape (n_records,)
        unit : str
        """
        steps = list(self.steps)
        if not steps:
            return np.zeros(0), "iteration"
        anchor = steps[0]
        ends = [i for i, step in enumerate(steps) if step == anchor]
        x = np.empty(len(steps))
        for k, i in enumerate(ends):
            x[i] = k
            if k:
                prev = ends[k - 1]
                x[prev + 1 : i] = k - 1 + np.arange(1, i - prev) / (i - prev)
        last = ends[-1]
        if last + 1 < len(steps):  # an unfinished iteration: spaced as the one before it
            width = (ends[-1] - ends[-2]) if len(ends) > 1 else len(steps) - last
            x[last + 1 :] = len(ends) - 1 + np.arange(1, len(steps) - last) / max(width, len(steps) - last)
        return x, anchor if anchor in ("epoch", "minibatch") else "iteration"

    def plot(
        self,
        ax: Any = None,
        *,
        label: str | None = None,
        smooth: int | None = None,
        terms: bool | Sequence[str] = False,
        step_legend: bool = True,
        start: int = 0,
        ylim: Any = "auto",
        **kwargs: Any,
    ) -> Any:
        """Plot the ELBO against iterations (or epochs, or minibatches).

        Each record sits at its place in the run (see :meth:`positions`):
        EM's E-steps at whole iterations and its M-steps half way, CAVI's
        factor updates spread over their iteration.  A run that guarantees
        ascent and records several kinds of step is drawn as a staircase
        (the bound holds until the next step raises it), with each kind of
        step marked by its own marker and colour.

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; a new figure (constrained layout) is made when None.
        label : str, optional
            Legend label of the curve.
        smooth : int, optional
            Window of a centred moving average drawn over the raw curve.  By
            default, trackers of stochastic algorithms (``monotone=False``)
            with at least 5 records get a window of about a tenth of the
            records (at least 3); deterministic ones get none.
        terms : bool or sequence of str, default=False
            Also draw the named terms of the bound (all of them when True),
            on a panel of their own below the ELBO when ``ax`` is None (their
            signs are the terms', e.g. a KL divergence is positive and enters
            the bound with a minus), with the legend beside the panel.
        step_legend : bool, default=True
            Put the markers of each kind of step ('after E', ...) in the
            legend; :func:`plot_elbo` turns this off for several runs, whose
            legend then names the runs only.
        start : int, default=0
            Skip the first ``start`` records (the x positions are kept).
        ylim : 'auto', None or (float, float), default='auto'
            'auto': limits that leave out leading records far below the rest
            (a poor initialisation's first bound, say -6.7e6 against -14,
            would flatten the curve); those are marked at the bottom edge
            with their value.  None: matplotlib's own limits.
        **kwargs
            Passed to ``Axes.plot`` for the ELBO curve.

        Returns
        -------
        matplotlib.axes.Axes
            The Axes of the ELBO curve.
        """
        plt = _import_pyplot()
        term_ax = None
        if ax is None:
            if terms:
                _, (ax, term_ax) = plt.subplots(2, 1, figsize=(6, 6), sharex=True, layout="constrained")
            else:
                _, ax = plt.subplots(figsize=(6, 4), layout="constrained")
        elif terms:
            term_ax = ax
        label = label if label is not None else self.name
        positions, unit = self.positions()
        x, v = positions[start:], self.values[start:]
        steps = np.asarray(self.steps[start:])
        kinds = list(dict.fromkeys(steps))
        if smooth is None and not self.monotone and v.size >= 5:
            smooth = max(3, v.size // 10)
        alpha = 0.4 if smooth else 1.0
        staircase = self.monotone and len(kinds) > 1
        (line,) = ax.plot(x, v, label=label if not smooth else f"{label or 'ELBO'} (raw)", alpha=alpha,
                          drawstyle="steps-post" if staircase else "default", **kwargs)
        if len(kinds) > 1 and v.size < 400:
            # Each kind of step (E and M half-steps, CAVI factors): its own marker, and on a
            # single run its own colour too.
            for i, (marker, step) in enumerate(zip("o^sDv<>", kinds)):
                sel = steps == step
                color = f"C{i + 1}" if step_legend else line.get_color()
                ax.plot(x[sel], v[sel], marker, ls="none", ms=4, color=color, alpha=alpha,
                        label=f"after {step}" if step_legend else "_nolegend_")
        if smooth:
            ax.plot(x, _moving_average(v, smooth), color=line.get_color(), label=f"{label or 'ELBO'} (smoothed)")
        if ylim == "auto" and term_ax is not ax:  # (terms on the same Axes: matplotlib's limits show them)
            _set_robust_ylim(ax, [(x, v)])
        elif ylim not in ("auto", None):
            ax.set_ylim(*ylim)
        ax.set_xlabel(unit)
        ax.set_ylabel("ELBO (nats per sample)")
        if label is not None or len(kinds) > 1 or smooth:
            ax.legend(fontsize="small")
        if terms:
            names = list(self._terms) if terms is True else list(terms)
            for name in names:
                term_ax.plot(x, self.terms[name][start:], "--", label=name)
            term_ax.set_xlabel(unit)
            term_ax.set_ylabel("term (nats per sample)" if term_ax is not ax else "nats per sample")
            term_ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0))
        return ax


def _robust_range(values: np.ndarray) -> tuple[float, float, int]:
    """(low, high, k): y-limits for ``values`` that leave out its first k records
    when each lies below all that follow by more than 10 times their spread."""
    v = values[np.isfinite(values)]
    with np.errstate(over="ignore", invalid="ignore"):  # spreads of values near the float limits
        return _leading_outliers(v)


def _leading_outliers(v: np.ndarray) -> tuple[float, float, int]:
    k = 0
    while v.size - k > 2 and k < max(1, v.size // 5):
        rest = v[k + 1 :]
        if rest.min() - v[k] <= 10.0 * max(rest.max() - rest.min(), 1e-12 * abs(rest.min())):
            break
        k += 1
    if v.size == 0:
        return -1.0, 1.0, 0
    lo, hi = float(v[k:].min()), float(v[k:].max())
    pad = 0.05 * (hi - lo) or 0.05 * max(abs(hi), 1.0)
    return lo - pad, hi + pad, k


def _set_robust_ylim(ax: Any, curves: list) -> None:
    """Limits over every curve's robust range; off-scale leading records marked at the bottom."""
    ranges = [_robust_range(v) for _, v in curves]
    lo, hi = min(r[0] for r in ranges), max(r[1] for r in ranges)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):  # e.g. values near the float limits
        return
    ax.set_ylim(lo, hi)
    for (x, v), (_, _, k) in zip(curves, ranges):
        finite = np.flatnonzero(np.isfinite(v))[:k]
        if finite.size:
            ax.plot(x[finite], np.full(finite.size, lo), "v", color="0.4", ms=6, clip_on=False,
                    label="_nolegend_")
            i = finite[0]
            ax.annotate(f"{v[i]:.3g} (off scale)", (x[i], lo), xytext=(4, 6), textcoords="offset points",
                        fontsize="x-small", color="0.3")


def _moving_average(v: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average with shrinking windows at the edges."""
    finite = np.where(np.isfinite(v), v, 0.0)
    weights = np.isfinite(v).astype(float)
    kernel = np.ones(window)
    num = np.convolve(finite, kernel, mode="same")
    den = np.convolve(weights, kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def _as_tracker(obj: Any) -> ELBOTracker:
    if isinstance(obj, ELBOTracker):
        return obj
    tracker = getattr(obj, "elbo_", None)
    if isinstance(tracker, ELBOTracker):
        return tracker
    raise TypeError(
        f"plot_elbo takes ELBOTracker objects or fitted varbayes estimators, "
        f"got {type(obj).__name__} (fit the estimator first)."
    )


def plot_elbo(*runs: Any, ax: Any = None, labels: Iterable[str] | None = None, **kwargs: Any) -> Any:
    """Plot the ELBO curves of several runs: overlaid per kind, kinds side by side.

    Runs whose records count the same thing (iterations of EM and CAVI,
    epochs of a VAE, minibatches of a stream; see
    :meth:`ELBOTracker.positions`) are overlaid on one Axes; runs of
    different kinds get one panel each, side by side, each with its own
    x-axis.  The y-limits leave out leading records far below the rest (see
    ``ylim`` of :meth:`ELBOTracker.plot`).

    Parameters
    ----------
    *runs : ELBOTracker or fitted estimator
        Trackers, or estimators with an ``elbo_`` attribute.
    ax : matplotlib Axes, optional
        Where to draw runs of one kind; a new figure is made when None.
    labels : iterable of str, optional
        One legend label per run; defaults to the estimator's class name or
        the tracker's name.
    **kwargs
        Passed to :meth:`ELBOTracker.plot`.

    Returns
    -------
    matplotlib.axes.Axes or list of Axes
        The Axes, or one per kind of run (in the order of first appearance).
    """
    plt = _import_pyplot()
    if not runs:
        raise ValueError("plot_elbo needs at least one tracker or fitted estimator.")
    trackers = [_as_tracker(r) for r in runs]
    if labels is None:
        labels = [
            t.name or (type(r).__name__ if not isinstance(r, ELBOTracker) else f"run {i}")
            for i, (t, r) in enumerate(zip(trackers, runs))
        ]
    labels = list(labels)
    if len(labels) != len(trackers):
        raise ValueError(f"Got {len(labels)} labels for {len(trackers)} runs.")
    units = [t.positions()[1] for t in trackers]
    kinds = list(dict.fromkeys(units))
    if ax is not None and len(kinds) > 1:
        raise ValueError(
            f"The runs count different things ({', '.join(kinds)}), which need one x-axis each: "
            "call plot_elbo without ax= (one panel per kind), or plot each kind on its own Axes."
        )
    if ax is None:
        _, grid = plt.subplots(1, len(kinds), figsize=(6 * len(kinds), 4), layout="constrained", squeeze=False)
        axes = list(grid[0])
    else:
        axes = [ax]
    kwargs.setdefault("step_legend", len(trackers) == 1)
    user_ylim = kwargs.pop("ylim", None if kwargs.get("terms") else "auto")
    for kind, panel in zip(kinds, axes):
        curves = []
        for tracker, label, unit in zip(trackers, labels, units):
            if unit == kind:
                tracker.plot(ax=panel, label=label, ylim=None, **kwargs)
                start = kwargs.get("start", 0)
                curves.append((tracker.positions()[0][start:], tracker.values[start:]))
        if user_ylim == "auto":
            _set_robust_ylim(panel, curves)
        elif user_ylim is not None:
            panel.set_ylim(*user_ylim)
        panel.legend(fontsize="small")
    return axes[0] if len(axes) == 1 else axes
