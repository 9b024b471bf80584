"""Progress of long fits: a one-line bar with an ETA on stderr, where stderr is a terminal.

Every loop that may run long (iterations of a conjugate fit over its
``n_init`` starts, epochs of a VAE or of an online mixture, on NumPy or on
a Dask cluster) reports through :class:`Progress` when the estimator's
``verbose`` is set; with ``verbose=0`` (the default) nothing is written.
The bar is drawn only on a terminal (``stderr.isatty()``): in a log file or
a notebook's captured stream it would be a heap of carriage returns, and
the verbose lines, printed to stdout as scikit-learn's, already say where
the fit is.  The lines go through :meth:`Progress.line`, which clears the
bar before printing and redraws it after, so the two never mix on a
terminal.
"""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["Progress"]

#: Seconds between two redraws of the bar.
REDRAW_SECONDS = 0.2


def _format_seconds(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds // 60:.0f}m{seconds % 60:02.0f}s"
    return f"{seconds // 3600:.0f}h{(seconds % 3600) // 60:02.0f}m"


class Progress:
    """A progress bar for ``total`` units of work (iterations, epochs).

    Parameters
    ----------
    total : float
        The most work the loop can do (it may stop earlier, on convergence:
        the ETA is then an upper bound, shown as such).
    unit : str
        What is counted, e.g. 'iterations' or 'epochs'.
    label : str, default=''
        The loop's name, shown first.
    enabled : bool, default=True
        False: a silent object (``verbose=0``), so callers need no branches.
    """

    def __init__(self, total: float, unit: str, label: str = "", enabled: bool = True) -> None:
        self.stream: Any = sys.stderr  # looked up now: a test or a caller may have redirected it
        self.total, self.unit, self.label = float(total), unit, label
        self.enabled = bool(enabled)
        isatty = getattr(self.stream, "isatty", None)
        self.bar = self.enabled and callable(isatty) and bool(isatty())
        self.start = self.last = time.perf_counter()
        self.done, self.info, self.shown = 0.0, "", 0

    def text(self) -> str:
        """The bar as it is drawn: label, bar, count, ETA and the caller's note."""
        width = 24
        done = min(self.done, self.total)
        frac = done / self.total if self.total > 0 else 1.0
        filled = int(round(width * frac))
        elapsed = time.perf_counter() - self.start
        eta = elapsed * (self.total - done) / done if done > 0 else float("nan")
        eta_text = f"eta <= {_format_seconds(eta)}" if eta == eta else "eta ?"
        count = f"{int(done)}/{int(self.total)} {self.unit}"  # whole units (an epoch under way is not counted)
        parts = [self.label, f"[{'#' * filled}{'.' * (width - filled)}]", count, eta_text, self.info]
        return " ".join(p for p in parts if p)

    def update(self, done: float, info: str = "") -> None:
        """Record ``done`` units of work (and a note such as the current ELBO); redraw if due."""
        self.done, self.info = float(done), info
        if not self.bar:
            return
        now = time.perf_counter()
        if now - self.last >= REDRAW_SECONDS or self.done >= self.total:
            self.last = now
            self._draw()

    def _draw(self) -> None:
        text = self.text()
        self.stream.write("\r" + text + " " * max(0, self.shown - len(text)))
        self.stream.flush()
        self.shown = len(text)

    def _clear(self) -> None:
        if self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()
            self.shown = 0

    def line(self, text: str) -> None:
        """Print a verbose line on stdout, with the bar cleared before and redrawn after."""
        if not self.enabled:
            return
        self._clear()
        print(text, flush=True)
        if self.bar and self.done > 0:
            self._draw()

    def close(self) -> None:
        """Remove the bar (the verbose lines stay)."""
        if self.bar:
            self._clear()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
