"""The ``fit`` command: fit an estimator to a CSV, NPY or NPZ file from the shell.

``varbayes fit MODEL DATA [options]`` fits ``gmm`` (GaussianMixture),
``bgmm`` (BayesianGaussianMixture) or ``vae`` (VAE) and writes, in
``--output-dir``:

* ``summary.json``: the model, its parameters (as lists), the ELBO history
  (values, step labels, terms), whether the fit converged, the number of
  iterations and the final bound;
* ``labels.csv`` (mixtures: the most likely component of each row) or
  ``latents.csv`` (VAE: the posterior means of the latent variables);
* ``elbo.png``: the ELBO curve (needs matplotlib).

Every problem the user can fix (a missing or unreadable file, non-numeric
data, a bad option value) ends in one line ``varbayes: error: ...`` on stderr
and exit status 2; a fit that fails (e.g. a diverging VAE) exits with 1.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, NoReturn, Sequence

import numpy as np

__all__ = ["CLIError", "load_data", "add_fit_parser", "run_fit", "unrecognized"]

#: Exit status for problems with the input or the options (as argparse).
EXIT_USAGE = 2
#: Exit status for a fit that failed.
EXIT_FAILURE = 1

#: Text formats, read as CSV (with the delimiter sniffed or given), and NumPy's.
TEXT_FORMATS = (".csv", ".tsv", ".txt")
FORMATS = TEXT_FORMATS + (".npy", ".npz", ".parquet")


class CLIError(Exception):
    """A problem the user can fix; printed as one line, never as a traceback.

    Parameters
    ----------
    message : str
        The line to print after ``varbayes: error:``.
    status : int, default=2
        The exit status.
    """

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr, exit status 2.

    argparse prints the whole usage before the error; for a command with
    many flags that buries the message, so the usage is replaced by a pointer
    to ``--help``.
    """

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"varbayes: error: {message} (see '{self.prog} --help')\n")


# ----------------------------------------------------------------- input
#: Spellings of a missing value in a CSV cell (case-insensitive), besides an empty cell.
MISSING = ("na", "n/a", "nan", "null", "none", "-nan", "#n/a")

MISSING_HINT = (
    "the models fit complete rows only: drop the rows with missing values, or fill them "
    "first (varbayes.VBPCAImputer fills them from the other columns)"
)


def load_data(
    path: str | os.PathLike,
    key: str | None = None,
    *,
    delimiter: str | None = None,
    header: bool | None = None,
    usecols: Sequence[str] | None = None,
    drop: Sequence[str] | None = None,
    note: Callable[[str], None] | None = None,
) -> tuple[np.ndarray, list[str] | None]:
    """Read a 2-D float array from a CSV, NPY or NPZ file.

    Parameters
    ----------
    path : str or path-like
        A ``.csv`` (or ``.tsv``/``.txt``) file of numbers with an optional
        header row of column names, a ``.npy`` file or a ``.npz`` archive.
    key : str, optional
        The array to take from an NPZ archive; may be omitted when the
        archive holds exactly one array.
    delimiter : str, optional
        The CSV field separator: one character, 'tab', or 'whitespace'
        (runs of spaces and tabs).  By default it is sniffed from the first
        lines among ',', ';', tab, '|' and spaces.
    header : bool, optional
        Whether the first CSV row holds column names; by default, when it
        is not all numbers.
    usecols, drop : sequence of str, optional
        Columns to keep, or to leave out: names from the header or 1-based
        column numbers (as in the error messages and ``cut -f``).
    note : callable, optional
        Called with a message when a column is dropped on the reader's own
        judgement (a pandas index column, whose header cell is empty).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), float64
        A 1-D array is read as one feature; arrays with more than two
        dimensions (e.g. images) are flattened to one row per sample.
    feature_names : list of str or None
        The CSV header (of the columns kept), when there is one.

    Raises
    ------
    CLIError
        When the file is missing, unreadable, not numeric, has a missing
        value ("missing value at line L, column C", the same for an empty
        cell, NA and nan), or the columns asked for do not exist.
    """
    p = Path(path)
    if not p.exists():
        raise CLIError(f"no such file: {str(p)!r}")
    if p.is_dir():
        raise CLIError(f"{str(p)!r} is a directory, not a data file")
    suffix = p.suffix.lower()
    if suffix not in FORMATS:
        raise CLIError(f"cannot read {str(p)!r}: the file name must end in {', '.join(FORMATS[:-1])} or {FORMATS[-1]}")
    if key is not None and suffix != ".npz":
        raise CLIError("--key applies only to .npz files")
    text_file = suffix in TEXT_FORMATS
    if not text_file and (delimiter is not None or header is not None):
        raise CLIError("--delimiter and --header/--no-header apply only to text (CSV) files")
    if usecols is not None and drop is not None:
        raise CLIError("give --usecols or --drop, not both")
    names = None
    if suffix == ".parquet":
        return _read_parquet(p, usecols, drop, note)
    if text_file:  # columns chosen before conversion: a dropped column may hold words
        X, names = _read_csv(p, delimiter, header, usecols, drop, note=note)
    else:
        X = _read_numpy(p, key)
    if X.size == 0:
        raise CLIError(f"{str(p)!r} holds no data")
    if X.ndim == 0:
        raise CLIError(f"{str(p)!r} holds a single number, not a table of samples")
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    elif X.ndim > 2:
        X = X.reshape(X.shape[0], -1)
    if not text_file:
        bad = np.argwhere(~np.isfinite(X))
        if bad.size:
            r, c = bad[0]
            what = "missing value (NaN)" if np.isnan(X[r, c]) else "infinite value"
            raise CLIError(f"{str(p)!r}: {what} at row {r + 1}, column {c + 1}; {MISSING_HINT}")
    if not text_file and (usecols is not None or drop is not None):
        keep = _kept_columns(p, None, X.shape[1], usecols, drop)
        X = X[:, keep]
    return X, names


def _kept_columns(p: Path, names: list[str] | None, width: int, usecols: Any, drop: Any) -> list[int]:
    """The indices of the columns named or numbered (1-based) in ``usecols``, or of all but those in ``drop``."""

    def index(item: str) -> int:
        item = item.strip()
        if names is not None and item in names:
            return names.index(item)
        if item.isdecimal() and item.isascii() and 1 <= int(item) <= width:
            return int(item) - 1
        known = f"its columns are {', '.join(repr(n) for n in names)}" if names else "it has no header row"
        raise CLIError(f"{str(p)!r} has no column {item!r} ({known}; or give column numbers 1 to {width})")

    if usecols is None and drop is None:
        return list(range(width))
    chosen = [index(c) for c in (usecols if usecols is not None else drop)]
    keep = chosen if usecols is not None else [j for j in range(width) if j not in set(chosen)]
    if not keep:
        raise CLIError("--drop leaves no column to fit")
    return keep


def _delimiter(p: Path, lines: list[str], delimiter: str | None) -> str | None:
    """The field separator (None: runs of whitespace)."""
    if delimiter is not None:
        named = {"tab": "\t", "\\t": "\t", "whitespace": None, "space": " "}
        if delimiter in named:
            return named[delimiter]
        if len(delimiter) != 1:
            raise CLIError(f"--delimiter must be one character, 'tab' or 'whitespace', got {delimiter!r}")
        return delimiter
    sample = "\n".join(lines[:20])
    present = [c for c in ",;\t|" if c in sample]
    if present:
        try:
            return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
        except csv.Error:
            return present[0]
    return None if any(ch.isspace() for line in lines[:20] for ch in line.strip()) else ","


def _read_csv(p: Path, delimiter: str | None, header: bool | None, usecols: Any, drop: Any, *,
              note: Callable[[str], None] | None) -> tuple[np.ndarray, list[str] | None]:
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise CLIError(f"cannot read {str(p)!r} as CSV: {_reason(exc)}") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # Windows and old Mac line ends alike
    lines = text.splitlines()
    sep = _delimiter(p, [line for line in lines if line.strip()], delimiter)
    if sep is None:
        rows = [(i + 1, line.split()) for i, line in enumerate(lines) if line.strip()]
    else:
        try:
            reader = csv.reader(io.StringIO(text), delimiter=sep)
            rows = [(reader.line_num, row) for row in reader if row and any(cell.strip() for cell in row)]
        except csv.Error as exc:
            raise CLIError(f"cannot read {str(p)!r} as CSV: {_reason(exc)}") from None
    if not rows:
        raise CLIError(f"{str(p)!r} holds no data")
    names = None
    first = rows[0][1]
    if header is None:  # a header is a first row that is not all numbers (or missing values)
        header = not all(_is_number(cell) or _is_missing(cell) for cell in first)
    if header:
        names = [cell.strip() for cell in first]
        rows = rows[1:]
        if not rows:
            raise CLIError(f"{str(p)!r} has a header row but no data")
    width = len(rows[0][1])
    for line, row in rows:
        if len(row) != width:
            raise CLIError(f"{str(p)!r}, line {line}: {len(row)} fields where line {rows[0][0]} has {width}")
    if names is not None and len(names) == width + 1 and names[0] == "":
        names = names[1:]  # R's write.csv: the row names have no header cell
    if names is not None and len(names) != width:
        raise CLIError(f"{str(p)!r}: the header has {len(names)} fields but the rows have {width}")
    keep = _kept_columns(p, names, width, usecols, drop)
    if names is not None and names[0] == "" and width > 1 and usecols is None and keep and keep[0] == 0:
        keep = keep[1:]  # pandas' to_csv: the index column, its header cell empty (kept only by --usecols)
        if note is not None:
            note(f"dropped column 1 of {str(p)!r}: its header cell is empty, as in a pandas index column "
                 "(choose the columns with --usecols to keep it)")
    if names is not None:
        names = [names[j] for j in keep]
    try:
        X = np.array([[row[j] for j in keep] for _, row in rows], dtype=np.float64)
    except ValueError:
        X = None
    if X is None or not np.all(np.isfinite(X)):
        for line, row in rows:
            for j in keep:
                cell = row[j]
                where = f"{str(p)!r}, line {line}, column {j + 1}"
                if _is_missing(cell):
                    raise CLIError(f"{where}: missing value ({cell.strip()!r}); {MISSING_HINT}") from None
                if not _is_number(cell):
                    raise CLIError(f"{where}: {cell.strip()!r} is not a number") from None
                if not math.isfinite(float(cell)):
                    raise CLIError(f"{where}: infinite value ({cell.strip()!r})") from None
        raise AssertionError("unreachable: every cell parsed above")  # pragma: no cover
    return X, names


def _read_parquet(p: Path, usecols: Any, drop: Any,
                  note: Callable[[str], None] | None) -> tuple[np.ndarray, list[str]]:
    """The numeric columns of a Parquet file (chosen by ``usecols``/``drop``), as float64."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError:
        raise CLIError("reading .parquet files needs pyarrow: pip install 'varbayes[parquet]'") from None
    try:
        table = pq.read_table(p)
    except Exception as exc:  # pyarrow raises its own ArrowInvalid, OSError, ...
        raise CLIError(f"cannot read {str(p)!r} as Parquet: {_reason(exc)}") from None
    names = list(table.column_names)
    index = [j for j, name in enumerate(names) if name.startswith("__index_level_")]
    # The index is not data: left out unless --usecols names it.
    keep = [j for j in _kept_columns(p, names, len(names), usecols, drop) if j not in index or usecols is not None]
    if not keep or table.num_rows == 0:
        raise CLIError(f"{str(p)!r} holds no data")
    columns = []
    for j in keep:
        column = table.column(j)
        if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)
                or pa.types.is_boolean(column.type)):
            raise CLIError(f"{str(p)!r}: column {names[j]!r} is not numeric ({column.type}): "
                           f"leave it out with --drop {names[j]!r}")
        values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            what = "missing value" if np.isnan(values[bad[0]]) else "infinite value"
            raise CLIError(f"{str(p)!r}: {what} at row {bad[0] + 1}, column {names[j]!r}; {MISSING_HINT}")
        columns.append(values)
    if index and usecols is None and note is not None:
        note(f"dropped the pandas index column(s) of {str(p)!r} (choose the columns with --usecols to keep them)")
    return np.column_stack(columns), [names[j] for j in keep]


def _is_missing(cell: str) -> bool:
    value = cell.strip().lower()
    return value == "" or value in MISSING


def _is_number(cell: str) -> bool:
    if _is_missing(cell):
        return False
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _read_numpy(p: Path, key: str | None) -> np.ndarray:
    kind = p.suffix.lower()[1:].upper()
    # np.load guesses the format from the content and calls anything it does
    # not recognise "pickled data": check the magic bytes for a clearer message.
    try:
        with open(p, "rb") as fh:
            head = fh.read(6)
    except OSError as exc:
        raise CLIError(f"cannot read {str(p)!r}: {_reason(exc)}") from None
    magic = b"\x93NUMPY" if kind == "NPY" else b"PK\x03\x04"
    if head[: len(magic)] != magic:
        raise CLIError(f"{str(p)!r} is not a NumPy .{kind.lower()} file")
    try:
        loaded = np.load(p, allow_pickle=False)
    except Exception as exc:  # numpy raises ValueError, OSError, EOFError, ... for a bad file
        raise CLIError(f"cannot read {str(p)!r} as {kind}: {_reason(exc)}") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.files)
            if key is None:
                if len(keys) != 1:
                    listed = ", ".join(repr(k) for k in keys) or "none"
                    raise CLIError(f"{str(p)!r} holds {len(keys)} arrays ({listed}); choose one with --key")
                key = keys[0]
            elif key not in keys:
                raise CLIError(f"{str(p)!r} has no array {key!r}; it has {', '.join(repr(k) for k in keys)}")
            try:
                arr = loaded[key]
            except Exception as exc:
                raise CLIError(f"cannot read array {key!r} of {str(p)!r}: {_reason(exc)}") from None
    else:
        arr = loaded
    if arr.dtype.kind not in "biuf":
        raise CLIError(f"{str(p)!r} holds {arr.dtype} data, not numbers")
    return np.asarray(arr, dtype=np.float64)


def _with_flags(message: str, options: Sequence[Option]) -> str:
    """Name the flag beside each estimator parameter an error message quotes."""
    for opt in options:
        message = message.replace(f"'{opt.param}'", f"'{opt.param}' ({opt.flag})")
    return message


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ----------------------------------------------------------------- options
@dataclass(frozen=True)
class Option:
    """One command-line flag that maps to an estimator parameter."""

    flag: str
    param: str
    type: Callable[[str], Any]
    help: str
    choices: tuple | None = None
    metavar: str | None = None
    default: str | None = None  # shown instead of the estimator's default


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


_positive_int.__name__ = "positive integer"  # argparse names the type in its message


def _positive_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


_positive_float.__name__ = "positive number"


def _nonnegative_float(text: str) -> float:
    value = float(text)
    if not (value >= 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text!r}")
    return value


_nonnegative_float.__name__ = "non-negative number"


def _layer_sizes(text: str) -> tuple[int, ...]:
    """'128,64' -> (128, 64); '' or 'none' -> () (linear encoder and decoder)."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        sizes = tuple(int(s) for s in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be comma-separated positive integers such as 128,64, got {text!r}") from None
    if any(s < 1 for s in sizes):
        raise argparse.ArgumentTypeError(f"must be comma-separated positive integers such as 128,64, got {text!r}")
    return sizes


_layer_sizes.__name__ = "layer sizes"


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"must be an integer from 0 to 2**32 - 1, got {text!r}")
    return value


_seed.__name__ = "seed"


def _batch_size(text: str) -> int | str:
    return "auto" if text == "auto" else _positive_int(text)


_batch_size.__name__ = "batch size"

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data")
DEVICES = ("auto", "cpu", "gpu")

_COMMON = [
    Option("--tol", "tol", _nonnegative_float, "convergence tolerance", metavar="TOL"),
    Option("--random-state", "random_state", _seed, "seed, for reproducible results", metavar="SEED"),
    Option("--device", "device", str, "where to compute", choices=DEVICES),
]
_MIXTURE = [
    Option("--n-components", "n_components", _positive_int, "number of mixture components", metavar="K"),
    Option("--max-iter", "max_iter", _positive_int, "maximum number of EM or CAVI iterations", metavar="N"),
    Option("--covariance-type", "covariance_type", str, "form of the component covariances", choices=COVARIANCE_TYPES),
    Option("--reg-covar", "reg_covar", _nonnegative_float, "added to the diagonal of each covariance", metavar="C"),
    Option("--n-init", "n_init", _positive_int, "number of initialisations; the best bound is kept", metavar="N"),
    Option("--init-params", "init_params", str, "how the initial responsibilities are drawn", choices=INIT_PARAMS),
]
_BGMM = [
    Option(
        "--weight-concentration-prior-type", "weight_concentration_prior_type", str,
        "prior on the weights", choices=("dirichlet_process", "dirichlet_distribution"),
    ),
    Option(
        "--weight-concentration-prior", "weight_concentration_prior", _positive_float,
        "concentration alpha_0 (gamma_0 for the process); small values prune components",
        metavar="A", default="1 / n_components",
    ),
    Option("--mean-precision-prior", "mean_precision_prior", _positive_float, "precision scale beta_0 of the prior on the means", metavar="B", default="1"),
    Option("--degrees-of-freedom-prior", "degrees_of_freedom_prior", _positive_float, "degrees of freedom nu_0 of the prior on the precisions", metavar="NU", default="n_features"),
]
_VAE = [
    Option("--n-components", "n_components", _positive_int, "number of latent dimensions", metavar="K"),
    Option("--max-iter", "max_iter", _positive_int, "maximum number of epochs", metavar="N"),
    Option(
        "--hidden-layer-sizes", "hidden_layer_sizes", _layer_sizes,
        "encoder widths, comma-separated (the decoder mirrors them); 'none' for linear networks",
        metavar="W1,W2,...",
    ),
    Option("--activation", "activation", str, "hidden activation", choices=("relu", "tanh", "softplus", "logistic", "identity")),
    Option("--likelihood", "likelihood", str, "decoder distribution ('bernoulli' needs data in [0, 1])", choices=("gaussian", "bernoulli")),
    Option("--batch-size", "batch_size", _batch_size, "minibatch size or 'auto'", metavar="B"),
    Option("--learning-rate", "learning_rate", _positive_float, "Adam step size", metavar="LR"),
    Option("--beta", "beta", _nonnegative_float, "weight of the KL term in the training loss", metavar="BETA"),
    Option("--kl-warmup", "kl_warmup", int, "epochs over which the KL weight rises from 0", metavar="N"),
    Option("--dtype", "dtype", str, "precision of the arithmetic", choices=("float32", "float64")),
]


@dataclass(frozen=True)
class Model:
    """A model the ``fit`` command knows: its estimator and its flags."""

    name: str
    description: str
    factory: Callable[..., Any]
    options: list[Option]
    output: str  # 'labels' or 'latents'


def _models() -> dict[str, Model]:
    from varbayes import VAE, BayesianGaussianMixture, GaussianMixture

    return {
        "gmm": Model("gmm", "Gaussian mixture by exact EM (varbayes.GaussianMixture)", GaussianMixture, _MIXTURE + _COMMON, "labels"),
        "bgmm": Model(
            "bgmm", "Bayesian Gaussian mixture by mean-field CAVI (varbayes.BayesianGaussianMixture)",
            BayesianGaussianMixture, _MIXTURE + _COMMON + _BGMM, "labels",
        ),
        "vae": Model("vae", "variational autoencoder (varbayes.VAE)", VAE, _VAE[:2] + _COMMON + _VAE[2:], "latents"),
    }


def add_fit_parser(sub: Any) -> dict[str, argparse.ArgumentParser]:
    """Add the ``fit`` command, one sub-command per model, to a subparsers object.

    Parameters
    ----------
    sub : argparse._SubParsersAction
        The result of ``parser.add_subparsers()``.

    Returns
    -------
    dict of str to ArgumentParser
        Each model's parser (for errors that point to its ``--help``).
    """
    parsers = {}
    p_fit = sub.add_parser(
        "fit",
        help="fit a model to a CSV, NPY, NPZ or Parquet file; write summary.json, labels or latents and elbo.png",
        description=(
            "Fit a model to the rows of a data file and write summary.json (parameters, ELBO history, "
            "convergence), labels.csv (mixtures) or latents.csv (vae), and elbo.png to --output-dir."
        ),
    )
    models = p_fit.add_subparsers(dest="model", required=True, metavar="MODEL", parser_class=OneLineParser)
    for model in _models().values():
        defaults = model.factory().get_params()
        p = parsers[model.name] = models.add_parser(model.name, help=model.description,
                                                    description=f"Fit a {model.description}.")
        p.add_argument("data", metavar="DATA", help="a .csv/.tsv/.txt (optional header row), .npy, .npz or .parquet file; one row per sample")
        p.add_argument("--key", help="the array to read from an .npz file (default: its only array)")
        text = p.add_argument_group("text (CSV) files")
        text.add_argument("--delimiter", metavar="D", help="field separator: one character, 'tab' or 'whitespace' (default: sniffed)")
        head = text.add_mutually_exclusive_group()
        head.add_argument("--header", dest="header", action="store_const", const=True, default=None,
                          help="the first row holds column names (default: when it is not all numbers)")
        head.add_argument("--no-header", dest="header", action="store_const", const=False, help="the first row is data")
        cols = p.add_mutually_exclusive_group()
        cols.add_argument("--usecols", metavar="COLS", type=_columns,
                          help="columns to fit, by header name or 1-based number, comma-separated (e.g. 'x,y' or '2,3')")
        cols.add_argument("--drop", metavar="COLS", type=_columns, help="columns to leave out (names or 1-based numbers)")
        p.add_argument("-o", "--output-dir", default="varbayes_output", metavar="DIR", help="where to write the results (default: %(default)s)")
        p.add_argument("--no-plot", action="store_true", help="do not write elbo.png (no matplotlib needed)")
        noise = p.add_mutually_exclusive_group()
        noise.add_argument("-v", "--verbose", action="store_true", help="show progress on stderr (default when stderr is a terminal)")
        noise.add_argument("-q", "--quiet", action="store_true",
                           help="print nothing but errors and warnings (no progress, no result lines)")
        if model.name != "vae":
            p.add_argument(
                "--scheduler", metavar="ADDRESS", default=None,
                help="fit on the Dask cluster whose scheduler is at ADDRESS (e.g. tcp://10.0.0.5:8786); DATA is then "
                     "a .npy file or a quoted glob of them ('data/*.npy'), each file a block of rows that the workers "
                     "read themselves (they must see the same paths)",
            )
        for opt in model.options:
            default = defaults[opt.param]
            shown = opt.default or (",".join(map(str, default)) if isinstance(default, tuple) else default)
            text = f"{opt.help} (default: {shown})"
            # SUPPRESS: only the flags given reach the estimator, so its own
            # defaults stay the single source of truth.
            p.add_argument(
                opt.flag, dest=opt.param, type=opt.type, choices=opt.choices, metavar=opt.metavar,
                default=argparse.SUPPRESS, help=text.replace("%", "%%"),
            )
    return parsers


def unrecognized(extras: Sequence[str], parser: argparse.ArgumentParser) -> str:
    """The error for arguments ``parser`` does not know, with the closest option it has."""
    import difflib

    known = [s for action in parser._actions for s in action.option_strings]
    words = []
    for extra in extras:
        guess = difflib.get_close_matches(extra.split("=")[0], known, n=1, cutoff=0.8) if extra.startswith("-") else []
        words.append(f"{extra!r}" + (f" (did you mean {guess[0]!r}?)" if guess else ""))
    return f"unrecognized argument{'s' if len(words) > 1 else ''}: {', '.join(words)}"


# ----------------------------------------------------------------- running
def run_fit(args: argparse.Namespace) -> int:
    """Run the ``fit`` command from parsed arguments.

    Parameters
    ----------
    args : argparse.Namespace
        As parsed by the parser of :func:`add_fit_parser`.

    Returns
    -------
    int
        0 on success.

    Raises
    ------
    CLIError
        For any problem with the input, the options or the fit.
    """
    model = _models()[args.model]
    scheduler = getattr(args, "scheduler", None)
    if scheduler is not None:
        from ._cli_dask import dask_data, on_cluster

        if args.key is not None:
            raise CLIError("--key applies only to .npz files, which --scheduler does not read")
        X, _ = dask_data(args.data)  # the files' headers only, before connecting
        with on_cluster(scheduler):
            return _fit_and_write(args, model, X, None)
    X, names = load_data(args.data, args.key, delimiter=args.delimiter, header=args.header, usecols=args.usecols,
                         drop=args.drop, note=None if args.quiet else _note)
    return _fit_and_write(args, model, X, names)


def _note(message: str) -> None:
    print(f"varbayes: note: {message}", file=sys.stderr)


def _columns(text: str) -> list[str]:
    items = [c.strip() for c in text.split(",")]
    if not all(items):
        raise argparse.ArgumentTypeError(f"must be comma-separated column names or numbers, got {text!r}")
    return items


_columns.__name__ = "columns"


def _fit_and_write(args: argparse.Namespace, model: Any, X: Any, names: list[str] | None) -> int:
    """Fit ``model`` to X (NumPy, or Dask on the current scheduler) and write the outputs."""
    from sklearn.exceptions import ConvergenceWarning

    from varbayes import DivergenceError

    params = {opt.param: getattr(args, opt.param) for opt in model.options if hasattr(args, opt.param)}
    progress = args.verbose or (not args.quiet and sys.stderr.isatty())
    if progress:
        # Mixtures print every verbose_interval iterations, the VAE a line per
        # epoch and a bar within it; all of it goes to stderr (below).
        params["verbose"] = 2
        if args.model != "vae":
            params["verbose_interval"] = max(1, params.get("max_iter", model.factory().max_iter) // 20)
    try:
        est = model.factory(**params)
    except TypeError as exc:  # pragma: no cover - the flags are the estimator's parameters
        raise CLIError(str(exc)) from None
    out = Path(args.output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"cannot create the output directory {str(out)!r}: {_reason(exc)}") from None

    if progress:
        print(f"varbayes: fitting {model.name} to {X.shape[0]} x {X.shape[1]} data from {args.data}", file=sys.stderr)
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(sys.stderr if progress else io.StringIO()):
        warnings.simplefilter("always")
        try:
            est.fit(X)
        except DivergenceError as exc:
            raise CLIError(_reason(exc), EXIT_FAILURE) from None
        except (ValueError, RuntimeError) as exc:  # bad option values, data the model rejects, no GPU
            raise CLIError(_with_flags(_reason(exc), model.options)) from None
        except Exception as exc:  # a bug: still one line, with the exception's type for the report
            raise CLIError(f"the fit failed: {type(exc).__name__}: {_reason(exc)}", EXIT_FAILURE) from None
    seconds = time.perf_counter() - start
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    for w in caught:
        if not issubclass(w.category, (ConvergenceWarning, DeprecationWarning)):
            print(f"varbayes: warning: {_reason(Warning(str(w.message)))}", file=sys.stderr)
    if not converged:
        print(f"varbayes: warning: not converged after {est.n_iter_} iterations (raise --max-iter or --tol)", file=sys.stderr)

    summary = summarize(model.name, est, X, converged=converged, seconds=seconds, source=str(args.data), feature_names=names)
    written = [_write_json(out / "summary.json", summary)]
    if model.output == "labels":
        labels = np.asarray(est.predict(X))  # a Dask array's labels computed here: one int per row
        written.append(_write_csv(out / "labels.csv", ["label"], labels.reshape(-1, 1), fmt="%d"))
    else:
        Z = est.transform(X)
        written.append(_write_csv(out / "latents.csv", list(est.get_feature_names_out()), Z, fmt="%.8g"))
    if not args.no_plot:
        png = _write_plot(out / "elbo.png", est, model.name)
        if png is not None:
            written.append(png)
    if not args.quiet:
        state = "converged" if converged else "not converged"
        print(
            f"{model.name}: ELBO {summary['lower_bound']:.6g} nats/sample after {summary['n_iter']} iterations "
            f"({state}, {seconds:.2f} s)"
        )
        for path in written:
            print(f"wrote {path}")
    return 0


def summarize(
    model: str,
    est: Any,
    X: np.ndarray,
    *,
    converged: bool,
    seconds: float,
    source: str,
    feature_names: list[str] | None = None,
) -> dict:
    """The JSON-ready summary of a fitted estimator.

    Parameters
    ----------
    model : str
        'gmm', 'bgmm' or 'vae'.
    est : fitted estimator
    X : ndarray
        The training data.
    converged : bool
    seconds : float
        Wall-clock time of the fit.
    source : str
        Where the data came from.
    feature_names : list of str, optional

    Returns
    -------
    dict
        Keys: model, estimator, estimator_params, data, converged, n_iter,
        lower_bound (the final ELBO, nats per sample), score (mean
        log-density of X, the ELBO for the VAE), fit_seconds, elbo (values,
        steps, terms, monotone guarantee, is_monotone) and parameters.
    """
    tracker = est.elbo_
    lower_bound = float(getattr(est, "lower_bound_", tracker.values[-1]))
    summary = {
        "model": model,
        "estimator": f"varbayes.{type(est).__name__}",
        "estimator_params": {k: _jsonable(v) for k, v in est.get_params().items()},
        "data": {"path": source, "n_samples": int(X.shape[0]), "n_features": int(X.shape[1]), "feature_names": feature_names},
        "converged": bool(converged),
        "n_iter": int(est.n_iter_),
        "lower_bound": lower_bound,
        "score": float(est.score(X)),
        "fit_seconds": round(seconds, 4),
        "elbo": {
            "values": _jsonable(tracker.values),
            "steps": list(tracker.steps),
            "terms": {k: _jsonable(v) for k, v in tracker.terms.items()},
            "monotone_guaranteed": bool(tracker.monotone),
            "is_monotone": bool(tracker.is_monotone()) if tracker.monotone else None,
        },
        "parameters": _parameters(est),
    }
    return summary


_PARAMETERS = {
    "GaussianMixture": ("weights_", "means_", "covariances_"),
    "BayesianGaussianMixture": (
        "weights_", "means_", "covariances_", "n_effective_components_", "expected_counts_",
        "weight_concentration_", "mean_precision_", "degrees_of_freedom_",
    ),
    "VAE": (
        "encoder_coefs_", "encoder_intercepts_", "decoder_coefs_", "decoder_intercepts_", "decoder_log_var_",
    ),
}


def _parameters(est: Any) -> dict:
    return {name: _jsonable(getattr(est, name)) for name in _PARAMETERS[type(est).__name__]}


def _jsonable(value: Any) -> Any:
    """Lists for arrays, None for NaN and infinities (JSON has neither)."""
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (int, str, bool)):
        return value
    return repr(value)


def _write_json(path: Path, data: dict) -> Path:
    try:
        path.write_text(json.dumps(data, indent=1, allow_nan=False) + "\n")
    except OSError as exc:
        raise CLIError(f"cannot write {str(path)!r}: {_reason(exc)}") from None
    return path


def _write_csv(path: Path, header: Sequence[str], values: np.ndarray, fmt: str) -> Path:
    try:
        np.savetxt(path, values, delimiter=",", header=",".join(header), comments="", fmt=fmt)
    except OSError as exc:
        raise CLIError(f"cannot write {str(path)!r}: {_reason(exc)}") from None
    return path


def _write_plot(path: Path, est: Any, model: str) -> Path | None:
    try:
        import matplotlib
    except ImportError:
        print("varbayes: note: elbo.png skipped: matplotlib is not installed (pip install 'varbayes[plot]')", file=sys.stderr)
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    est.elbo_.plot(ax=ax, label=f"{model} ({type(est).__name__})")
    ax.set_title(f"ELBO of varbayes {model}", fontsize="medium")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise CLIError(f"cannot write {str(path)!r}: {_reason(exc)}") from None
    finally:
        plt.close(fig)
    return path
