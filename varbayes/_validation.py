"""Input and parameter checks shared by every estimator.

All checks run before any numerical work, so bad input never leaves an
estimator half-fitted.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from typing import Any, Iterable, Iterator

import numpy as np
from sklearn.utils.validation import validate_data

from ._backend import get_backend, is_gpu_array

FLOAT_DTYPES = (np.float64, np.float32)


def check_data(estimator: Any, X: Any, *, reset: bool, ensure_min_samples: int = 1) -> Any:
    """Validate ``X`` as a 2-D finite float array, keeping float32 as float32.

    NumPy-compatible input goes through scikit-learn's ``validate_data`` (which
    also records ``n_features_in_`` and ``feature_names_in_`` when ``reset``
    and checks them otherwise).  CuPy input is checked on the device with the
    same rules and messages, without a copy to the host.
    """
    if not is_gpu_array(X):
        return validate_data(
            estimator,
            X,
            reset=reset,
            dtype=list(FLOAT_DTYPES),
            ensure_min_samples=ensure_min_samples,
        )
    xp = get_backend("auto", X).xp  # CuPy, known only to the backend
    name = type(estimator).__name__
    if X.ndim != 2:
        raise ValueError(f"Expected 2D array, got {X.ndim}D array instead (shape={X.shape}).")
    if X.dtype.kind == "c":
        raise ValueError("Complex data not supported.")
    if X.dtype not in FLOAT_DTYPES:
        X = X.astype(np.float64)
    if X.shape[0] < ensure_min_samples:
        raise ValueError(
            f"Found array with {X.shape[0]} sample(s) (shape={X.shape}) while a "
            f"minimum of {ensure_min_samples} is required by {name}."
        )
    if X.shape[1] < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
    if not bool(xp.isfinite(X).all()):
        raise ValueError("Input X contains NaN or infinity.")
    if reset:
        estimator.n_features_in_ = X.shape[1]
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {name} is expecting "
            f"{estimator.n_features_in_} features as input."
        )
    return xp.ascontiguousarray(X)


@contextlib.contextmanager
def unchanged_on_error(estimator: Any, keep: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """Restore every attribute of ``estimator`` if the block raises.

    ``fit`` validates X with ``reset=True``, which records ``n_features_in_``
    before the remaining checks run; without this, an input rejected later
    (too few samples, data out of range, ...) would leave an estimator that
    looks fitted to ``check_is_fitted`` but has no parameters, or a fitted one
    expecting the rejected input's features.  Exceptions of the types in
    ``keep`` (e.g. a divergence that deliberately keeps the last good
    parameters) leave the estimator as the block left it.
    """
    saved = dict(vars(estimator))
    try:
        yield
    except BaseException as exc:
        if not isinstance(exc, keep):
            vars(estimator).clear()
            vars(estimator).update(saved)
        raise


def check_scalar(
    value: Any,
    name: str,
    kind: type | tuple[type, ...],
    *,
    low: float | None = None,
    high: float | None = None,
    include_low: bool = True,
    include_high: bool = True,
    allow_none: bool = False,
) -> None:
    """Raise a ValueError naming ``name`` when a scalar parameter is invalid."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, kind):
        readable = {"Integral": "an int", "Real": "a real number"}
        kinds = (kind,) if isinstance(kind, type) else kind
        names = " or ".join(readable.get(k.__name__, k.__name__) for k in kinds)
        raise ValueError(f"The parameter {name!r} must be {'None or ' if allow_none else ''}{names}, got {value!r}.")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float is still finite
        finite = True
    if not finite:
        # NaN passes every comparison below; no parameter here means infinity.
        raise ValueError(f"The parameter {name!r} must be finite, got {value!r}.")
    if low is not None and (value < low or (value == low and not include_low)):
        op = ">=" if include_low else ">"
        raise ValueError(f"The parameter {name!r} must be {op} {low}, got {value!r}.")
    if high is not None and (value > high or (value == high and not include_high)):
        op = "<=" if include_high else "<"
        raise ValueError(f"The parameter {name!r} must be {op} {high}, got {value!r}.")


def check_verbose(value: Any) -> None:
    """``verbose`` is a non-negative int; True and False count as 1 and 0, as in scikit-learn."""
    check_scalar(int(value) if isinstance(value, bool) else value, "verbose", numbers.Integral, low=0)


def check_option(value: Any, name: str, options: Iterable[Any]) -> None:
    """Raise a ValueError when ``value`` is not one of ``options``."""
    options = tuple(options)
    if value not in options:
        raise ValueError(f"The parameter {name!r} must be one of {options}, got {value!r}.")


def check_random_state_param(value: Any) -> None:
    """random_state must be None, an int, or a numpy RandomState."""
    if value is None or isinstance(value, (numbers.Integral, np.random.RandomState)):
        return
    raise ValueError(
        f"The parameter 'random_state' must be None, an int or a numpy "
        f"RandomState, got {value!r}."
    )


def check_array_param(value: Any, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """Validate a user-supplied initial array: shape, finiteness, dtype."""
    arr = np.asarray(value, dtype=dtype)
    if arr.shape != shape:
        raise ValueError(f"The parameter {name!r} should have the shape {shape}, but got {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"The parameter {name!r} contains NaN or infinity.")
    return arr
