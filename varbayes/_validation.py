"""Input and parameter checks shared by every estimator.

All checks run before any numerical work, so bad input never leaves an
estimator half-fitted.
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
from typing import Any, Iterable, Iterator

import numpy as np
import sklearn
from sklearn.utils import check_array
from sklearn.utils.validation import validate_data

from ._backend import get_backend, input_namespace, is_gpu_array, to_backend_array, to_numpy
from ._execution import compute, is_dask_array
from ._execution import persist as persist_on_cluster

FLOAT_DTYPES = (np.float64, np.float32)


def check_data(
    estimator: Any, X: Any, *, reset: bool, ensure_min_samples: int = 1, dtype: Any = None, power: int = 2,
    persist: bool = False, allow_nan: bool = False,
) -> Any:
    """Validate ``X`` as a 2-D finite float array, keeping float32 as float32.

    NumPy-compatible input goes through scikit-learn's ``validate_data`` (which
    also records ``n_features_in_`` and ``feature_names_in_`` when ``reset``
    and checks them otherwise).  CuPy input is checked on the device with the
    same rules and messages, without a copy to the host.  Masked arrays are
    refused (their mask would be ignored).  Values too large for the
    computation (``dtype``, by default that of X; sums of ``power``-th
    powers) are refused with one clear error instead of overflowing later
    (see :func:`check_magnitude`).

    A ``dask.array`` is checked by :func:`_check_dask_data` (``persist``:
    whether a fit will pass over it many times).

    With ``allow_nan`` (a model of missing values), NaN entries pass and only
    infinity is refused; the magnitude is then left to the caller, whose
    first pass over X takes the largest observed value.

    Arrays of other array-API libraries (PyTorch, array-api-strict) come in
    through DLPack as NumPy or CuPy arrays (:func:`to_backend_array`), with
    or without scikit-learn's ``array_api_dispatch``.
    """
    X = to_backend_array(X)
    if is_dask_array(X):
        return _check_dask_data(estimator, X, reset=reset, ensure_min_samples=ensure_min_samples,
                                dtype=dtype, power=power, persist=persist, allow_nan=allow_nan)
    if isinstance(X, np.ma.MaskedArray):
        raise ValueError(
            "X is a masked array: its mask would be ignored, and the masked values "
            "fitted. Missing values are not supported yet; drop the masked rows "
            "(X[~X.mask.any(axis=1)].data) or fill them (X.filled(value))."
        )
    if not is_gpu_array(X):
        X = validate_numpy_data(
            estimator,
            X,
            reset=reset,
            dtype=list(FLOAT_DTYPES),
            ensure_min_samples=ensure_min_samples,
            ensure_all_finite="allow-nan" if allow_nan else True,
        )
        if not allow_nan:
            check_magnitude(X, X.dtype if dtype is None else dtype, power)
        return X
    if allow_nan:
        raise TypeError(f"{type(estimator).__name__} does not take CuPy arrays yet: pass X.get() (a NumPy array).")
    xp = get_backend("auto", X).xp  # CuPy, known only to the backend
    X = _check_shape_and_dtype(estimator, X, ensure_min_samples)
    if not bool(xp.isfinite(X).all()):
        raise ValueError("Input X contains NaN or infinity.")
    check_magnitude(X, X.dtype if dtype is None else dtype, power)
    _check_features(estimator, X, reset)
    return xp.ascontiguousarray(X)


def validate_numpy_data(estimator: Any, X: Any, y: Any = "no_validation", **kwargs: Any) -> Any:
    """scikit-learn's ``validate_data`` for input computed on with NumPy,
    whatever the array-API dispatch setting: arrays of other array-API
    libraries come in through DLPack (:func:`to_backend_array`), and are then
    validated as NumPy arrays (under dispatch scikit-learn would validate
    them in their own namespace, which NumPy dtypes do not fit)."""
    X, y = to_backend_array(X), to_backend_array(y)
    with sklearn.config_context(array_api_dispatch=False):
        return validate_data(estimator, X, y, **kwargs)


def check_numpy_array(X: Any, **kwargs: Any) -> Any:
    """scikit-learn's ``check_array`` in the same way as
    :func:`validate_numpy_data`, for arrays that are not the estimator's X
    (latent vectors); a CuPy array is returned unchecked, as it is."""
    X = to_backend_array(X)
    if is_gpu_array(X):
        return X
    with sklearn.config_context(array_api_dispatch=False):
        return check_array(X, **kwargs)


def _check_shape_and_dtype(estimator: Any, X: Any, ensure_min_samples: int) -> Any:
    """scikit-learn's shape and dtype rules, in its words, for arrays it does
    not validate itself (CuPy, Dask): 2-D, real, float32 kept, other dtypes
    as float64, enough rows, at least one column."""
    if X.ndim != 2:
        raise ValueError(f"Expected 2D array, got {X.ndim}D array instead (shape={X.shape}).")
    if X.dtype.kind == "c":
        raise ValueError("Complex data not supported.")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"X must hold real numbers, got dtype {X.dtype}.")
    if X.dtype not in FLOAT_DTYPES:
        X = X.astype(np.float64)
    if X.shape[0] < ensure_min_samples:
        raise ValueError(
            f"Found array with {X.shape[0]} sample(s) (shape={X.shape}) while a "
            f"minimum of {ensure_min_samples} is required by {type(estimator).__name__}."
        )
    if X.shape[1] < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={X.shape}) while a minimum of 1 is required.")
    return X


def _check_features(estimator: Any, X: Any, reset: bool) -> None:
    """Record ``n_features_in_`` (reset) or check X against it, in scikit-learn's words."""
    if reset:
        estimator.n_features_in_ = X.shape[1]
        if hasattr(estimator, "feature_names_in_"):
            del estimator.feature_names_in_
    elif X.shape[1] != estimator.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features, but {type(estimator).__name__} is expecting "
            f"{estimator.n_features_in_} features as input."
        )


def _check_dask_data(
    estimator: Any, X: Any, *, reset: bool, ensure_min_samples: int, dtype: Any, power: int, persist: bool,
    allow_nan: bool = False,
) -> Any:
    """Validate a ``dask.array`` without gathering it.

    Shape, dtype and chunking are checked at once; a column-chunked array is
    rechunked to one block of columns (each row's features together, as the
    local steps need).  With ``persist`` (a fit) X is persisted on the
    cluster, and its finiteness and magnitude are checked in one pass over
    the persisted blocks before any fitting; otherwise (a prediction, which
    stays lazy) each block is checked when it is computed.
    """
    import dask.array as da

    if any(math.isnan(c) for c in X.shape):
        raise ValueError(
            f"X has unknown chunk sizes (shape={X.shape}): call X.compute_chunk_sizes() "
            "(or pass lengths= to to_dask_array) before fitting."
        )
    X = _check_shape_and_dtype(estimator, X, ensure_min_samples)
    _check_features(estimator, X, reset)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    if 0 in X.chunks[0]:  # empty blocks (after a boolean mask): nothing to reduce or fit
        X = X.rechunk({0: tuple(c for c in X.chunks[0] if c)})
    if not persist:
        return X.map_blocks(_no_inf_block if allow_nan else _finite_block, dtype=X.dtype)
    X = persist_on_cluster(X)
    if allow_nan:  # the caller's first pass takes the magnitude
        if bool(compute(da.isinf(X).any())[0]):
            raise ValueError("Input X contains infinity.")
        return X
    finite, largest, smallest = compute(da.isfinite(X).all(), X.max(), X.min())
    if not finite:
        raise ValueError("Input X contains NaN or infinity.")
    check_largest(max(float(largest), -float(smallest)), X.shape, X.dtype if dtype is None else dtype, power)
    return X


def _finite_block(block: Any) -> Any:
    """A prediction's lazy check of one block."""
    if not np.isfinite(block).all():
        raise ValueError("Input X contains NaN or infinity.")
    return block


def _no_inf_block(block: Any) -> Any:
    """A prediction's lazy check of one block that may hold missing values (NaN)."""
    if np.isinf(block).any():
        raise ValueError("Input X contains infinity.")
    return block


def check_same_namespace(X: Any, estimator: Any, method: str, attribute: str) -> Any:
    """Under scikit-learn's ``array_api_dispatch``, refuse input X whose array
    namespace or device differs from the fit's (read off ``attribute``), in
    scikit-learn's words; return X's :class:`~varbayes._backend.InputNamespace`
    (None without dispatch, or for NumPy input), where the method's output goes.
    """
    ns = input_namespace(X)
    fitted = input_namespace(getattr(estimator, attribute))
    if ns != fitted:
        name = type(estimator).__name__
        used = "NumPy" if fitted is None else f"{fitted.name} on {fitted.device}"
        given = "NumPy or array-like" if ns is None else f"{ns.name} on {ns.device}"
        raise ValueError(
            f"Inputs passed to {name}.{method}() must use the same namespace and the same device as "
            f"those passed to fit(): fit used {used}, {method} got {given}. Convert X (or refit on "
            "arrays like it)."
        )
    return ns


def check_sample_weight(sample_weight: Any, X: Any) -> Any:
    """Validate ``sample_weight`` for the rows of X: None, a number (every row
    the same weight) or one finite, non-negative weight per row, not all
    zero; returned as a 1-D array in the dtype of X (None stays None)."""
    if sample_weight is None:
        return None
    if is_dask_array(X) or is_dask_array(sample_weight):
        return _check_dask_sample_weight(sample_weight, X)
    sample_weight = to_numpy(sample_weight)  # CuPy, PyTorch, ...: to the host
    if isinstance(sample_weight, (str, bytes, dict, set)):
        raise ValueError(f"sample_weight must be None, a number or an array of shape ({X.shape[0]},), got {sample_weight!r:.60}.")
    try:
        w = np.asarray(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"sample_weight must be None, a number or an array of numbers of shape ({X.shape[0]},), "
            f"got {sample_weight!r:.60}."
        ) from None
    if w.ndim == 0:
        w = np.full(X.shape[0], float(w))
    if w.shape != (X.shape[0],):
        raise ValueError(f"sample_weight.shape == {w.shape}, expected ({X.shape[0]},): one weight per row of X.")
    if not np.all(np.isfinite(w)):
        raise ValueError("sample_weight contains NaN or infinity.")
    if np.any(w < 0):
        raise ValueError(f"sample_weight must be non-negative, but its smallest value is {w.min():.6g}.")
    if not np.any(w > 0):
        raise ValueError("sample_weight is zero for every row: at least one row must have a positive weight.")
    return w.astype(X.dtype if X.dtype in FLOAT_DTYPES else np.float64)


def _check_dask_sample_weight(sample_weight: Any, X: Any) -> Any:
    """:func:`check_sample_weight` for a Dask X: the weights as a Dask array
    chunked like X's rows, persisted, checked in one pass."""
    import dask.array as da

    if not is_dask_array(X):
        raise ValueError("sample_weight is a Dask array but X is not: pass both as Dask arrays, or neither.")
    if not is_dask_array(sample_weight):
        w = check_sample_weight(sample_weight, np.empty((X.shape[0], 0), dtype=X.dtype))
        return da.from_array(w, chunks=(X.chunks[0],))
    if sample_weight.shape != (X.shape[0],):
        raise ValueError(
            f"sample_weight.shape == {sample_weight.shape}, expected ({X.shape[0]},): one weight per row of X."
        )
    w = persist_on_cluster(sample_weight.astype(X.dtype).rechunk((X.chunks[0],)))
    finite, smallest, largest = compute(da.isfinite(w).all(), w.min(), w.max())
    if not finite:
        raise ValueError("sample_weight contains NaN or infinity.")
    if smallest < 0:
        raise ValueError(f"sample_weight must be non-negative, but its smallest value is {float(smallest):.6g}.")
    if not largest > 0:
        raise ValueError("sample_weight is zero for every row: at least one row must have a positive weight.")
    return w


def max_magnitude(X: Any, dtype: Any, power: int = 2) -> float:
    """The largest |x| for which sums of ``power``-th powers over X stay finite in ``dtype``.

    The mixtures sum squares of differences of rows: n d terms, each at
    most (2 max|x|)^2, finite when max|x| < (max_float / (2^p n d))^(1/p)
    with p = 2.  The VAE's optimiser squares gradients that grow with the
    squared data, so it needs p = 4.
    """
    return _limit(X.shape, dtype, power)


def _limit(shape: tuple, dtype: Any, power: int) -> float:
    n, d = shape
    return (float(np.finfo(dtype).max) / (2.0**power * max(n, 1) * max(d, 1))) ** (1.0 / power)


def check_magnitude(X: Any, dtype: Any, power: int = 2) -> None:
    """Refuse data whose powers would overflow ``dtype`` (one clear error, no warnings)."""
    if X.size == 0:
        return
    # Two reductions that stream (no |X| temporary: X may be a memmap larger than memory).
    check_largest(max(float(X.max()), -float(X.min())), X.shape, dtype, power)


def check_largest(largest: float, shape: tuple, dtype: Any, power: int) -> None:
    """Refuse data of ``shape`` whose largest |x| is ``largest`` when sums of
    its ``power``-th powers would overflow ``dtype`` (for passes that find
    the largest value themselves)."""
    limit = _limit(shape, dtype, power)
    if largest >= limit:
        name = np.dtype(dtype).name
        hint = " or compute in float64 (dtype=np.float64)" if name == "float32" else ""
        what = "squares" if power == 2 else f"{power}th powers"
        raise ValueError(
            f"X has values too large to compute with in {name}: max |x| = {largest:.3g}, "
            f"while sums of {what} over {shape[0]} x {shape[1]} values overflow beyond "
            f"|x| = {limit:.3g}. Scale the data (e.g. sklearn.preprocessing.StandardScaler){hint}."
        )


@contextlib.contextmanager
def unchanged_on_error(estimator: Any) -> Iterator[None]:
    """Restore every attribute of ``estimator``, and the state of its random
    generators, if the block raises (any exception, KeyboardInterrupt included).

    ``fit`` validates X with ``reset=True``, which records ``n_features_in_``
    before the remaining checks run, and a fit may fail at any point after
    (a divergence, a singular covariance, an interrupt): whatever happens,
    the estimator is left exactly as it was.  Attributes are restored to the
    very objects they held; random generators (``random_state`` when it is a
    ``RandomState`` or ``Generator``, and any generator kept by a fit) are
    advanced in place by a fit, so their state is restored too.  Estimators
    replace their other attributes rather than mutate them.
    """
    saved = dict(vars(estimator))
    generators = [(g, _generator_state(g)) for g in saved.values() if _generator_state(g) is not None]
    try:
        yield
    except BaseException:
        vars(estimator).clear()
        vars(estimator).update(saved)
        for generator, state in generators:
            _set_generator_state(generator, state)
        raise


def _generator_state(value: Any) -> Any:
    if isinstance(value, np.random.RandomState):
        return value.get_state()
    if isinstance(value, np.random.Generator):
        return value.bit_generator.state
    return None


def _set_generator_state(generator: Any, state: Any) -> None:
    if isinstance(generator, np.random.RandomState):
        generator.set_state(state)
    else:
        generator.bit_generator.state = state


def check_warm_start(estimator: Any, structure: dict[str, Any]) -> None:
    """A warm start needs the structure it was fitted with.

    ``structure`` maps the parameters that shape the fitted state (number of
    components, covariance type, layer sizes, ...) to their current values;
    the fit recorded them as ``_fitted_structure``.  Raise one ValueError
    naming the first that changed.
    """
    fitted = getattr(estimator, "_fitted_structure", None)
    if fitted is None:
        return
    for name, value in structure.items():
        if name in fitted and fitted[name] != value:
            raise ValueError(
                f"warm_start=True continues the fitted model, but {name} is now "
                f"{value!r} where the model was fitted with {fitted[name]!r}. Refit "
                f"with warm_start=False, or set {name}={fitted[name]!r} to continue."
            )


try:  # scikit-learn's class for invalid constructor parameters (a ValueError and a TypeError)
    from sklearn.utils._param_validation import InvalidParameterError
except ImportError:  # pragma: no cover - moved in some future scikit-learn

    class InvalidParameterError(ValueError, TypeError):
        """An invalid constructor parameter (scikit-learn's class where available)."""


#: The estimator whose parameters are being checked, for the messages.
_OWNER: contextvars.ContextVar[str | None] = contextvars.ContextVar("owner", default=None)


@contextlib.contextmanager
def checking_parameters_of(estimator: Any) -> Iterator[None]:
    """Name ``estimator`` in the parameter errors raised inside the block.

    The messages then read as scikit-learn's ("The 'tol' parameter of
    GaussianMixture must be ... Got -1 instead."), which its own tests and
    its users' match on.
    """
    token = _OWNER.set(type(estimator).__name__)
    try:
        yield
    finally:
        _OWNER.reset(token)


def _invalid(name: str, requirement: str, value: Any) -> InvalidParameterError:
    owner = _OWNER.get()
    of = f" of {owner}" if owner else ""
    return InvalidParameterError(f"The {name!r} parameter{of} must be {requirement}. Got {value!r} instead.")


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
    allow_inf: bool = False,
) -> None:
    """Raise an InvalidParameterError (a ValueError) naming ``name`` when a
    scalar parameter is invalid, in scikit-learn's words (NaN always is;
    +inf only without ``allow_inf``)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, kind):
        readable = {"Integral": "an int", "Real": "a real number"}
        kinds = (kind,) if isinstance(kind, type) else kind
        names = " or ".join(readable.get(k.__name__, k.__name__) for k in kinds)
        raise _invalid(name, f"{'None or ' if allow_none else ''}{names}", value)
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float is still finite
        finite = True
    if not finite and not (allow_inf and value == math.inf):
        # NaN passes every comparison below; few parameters here mean infinity.
        raise _invalid(name, "finite" if not allow_inf else "a real number or inf", value)
    if low is not None and (value < low or (value == low and not include_low)):
        op = ">=" if include_low else ">"
        raise _invalid(name, f"{op} {low}", value)
    if high is not None and (value > high or (value == high and not include_high)):
        op = "<=" if include_high else "<"
        raise _invalid(name, f"{op} {high}", value)


def check_verbose(value: Any) -> None:
    """``verbose`` is a non-negative int; True and False count as 1 and 0, as in scikit-learn."""
    check_scalar(int(value) if isinstance(value, bool) else value, "verbose", numbers.Integral, low=0)


def check_option(value: Any, name: str, options: Iterable[Any]) -> None:
    """Raise an InvalidParameterError (a ValueError) when ``value`` is not one of ``options``."""
    options = tuple(options)
    if value not in options:
        raise _invalid(name, f"one of {options}", value)


def check_random_state_param(value: Any) -> None:
    """random_state must be None, an int, or a numpy RandomState."""
    if value is None or isinstance(value, (numbers.Integral, np.random.RandomState)):
        return
    raise _invalid("random_state", "None, an int or a numpy RandomState", value)


def check_array_param(
    value: Any, name: str, shape: tuple[int, ...], dtype: Any, label: str | None = None
) -> np.ndarray:
    """Validate a user-supplied array parameter: numbers, shape, finiteness.

    ``label`` is scikit-learn's name for the same array in its messages (e.g.
    'weights' for ``weights_init``), so that a shape error reads as
    scikit-learn's ("The parameter 'weights' should have the shape of ...")
    and still names our parameter.
    """
    label = name if label is None else label
    if isinstance(value, (str, bytes, dict, set)):
        raise ValueError(
            f"The parameter {name!r} must be an array-like of numbers of shape {shape}, "
            f"got a {type(value).__name__}: {value!r:.60}."
        )
    try:
        arr = np.asarray(to_numpy(value), dtype=dtype)  # a tensor or CuPy array: to the host first
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(
            f"The parameter {name!r} must be an array-like of numbers of shape {shape}, "
            f"got {value!r:.60} ({exc})."
        ) from None
    if arr.shape != shape:
        where = "" if label == name else f" (check {name})"
        raise ValueError(f"The parameter {label!r} should have the shape of {shape}, but got {arr.shape}{where}.")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"The parameter {name!r} contains NaN or infinity.")
    return arr
