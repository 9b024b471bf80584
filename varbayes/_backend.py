"""Array backend: the one module that knows NumPy/SciPy from CuPy/cupyx.

Every estimator does its arithmetic through a :class:`Backend`.  The backend
exposes the array namespace ``xp`` (``numpy`` or ``cupy``) for everything the
two share, and wraps the few operations whose spelling or behaviour differs:
``logsumexp``, ``digamma``, ``gammaln``, batched Cholesky (with the same error
on both devices for a matrix that is not positive definite), batched
triangular solves, random numbers and the copy back to the host.

Fitted attributes of every estimator are NumPy arrays on the host, whatever
device did the fitting, so that pickling, plotting and scikit-learn utilities
work unchanged; only the fit loop and the prediction passes run on the device.

Arrays of other array-API libraries (PyTorch, array-api-strict, ...) reach
the backend through DLPack: CPU arrays become NumPy arrays and CUDA arrays
CuPy arrays, without a copy where the library allows (:func:`to_backend_array`).
Under scikit-learn's ``array_api_dispatch``, :func:`input_namespace` names the
namespace and device that an estimator's attributes and outputs go back to.
"""

from __future__ import annotations

import functools
import math
import numbers
from typing import Any

import numpy as np
import scipy.linalg
import scipy.special
import sklearn
from sklearn.externals import array_api_compat

__all__ = [
    "Backend",
    "NotPositiveDefiniteError",
    "get_backend",
    "is_gpu_array",
    "cuda_available",
    "InputNamespace",
    "input_namespace",
    "to_backend_array",
    "to_numpy",
    "inner",
    "difference",
    "gram",
]

DEVICES = ("auto", "cpu", "gpu")


class NotPositiveDefiniteError(np.linalg.LinAlgError):
    """A matrix handed to :meth:`Backend.cholesky` is not positive definite.

    Raised identically by the CPU and GPU backends (CuPy's Cholesky returns
    NaN instead of raising, so the GPU backend checks for it).
    """


def _import_cupy():
    try:
        import cupy  # noqa: F401
        import cupyx.scipy.special  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the machine
        return None
    return cupy


def cuda_available() -> bool:
    """Return True when CuPy is importable and sees at least one CUDA device."""
    cupy = _import_cupy()
    if cupy is None:
        return False
    try:  # pragma: no cover - needs a GPU
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # pragma: no cover - CUDA driver missing or broken
        return False


def is_gpu_array(X: Any) -> bool:
    """Return True when ``X`` is a CuPy array (checked without importing CuPy)."""
    return type(X).__module__.split(".")[0] == "cupy"


def _is_foreign_array(X: Any) -> bool:
    """True for an array of an array-API library other than NumPy and CuPy
    (a Dask array excepted: its blocks are NumPy or CuPy)."""
    if isinstance(X, (np.ndarray, np.generic, numbers.Number)) or type(X).__module__.split(".")[0] in ("cupy", "dask"):
        return False
    return bool(array_api_compat.is_array_api_obj(X))


#: DLPack's device types (dlpack.h, DLDeviceType): kDLCPU, kDLCUDA, kDLCUDAManaged.
_DLPACK_CPU, _DLPACK_CUDA, _DLPACK_CUDA_MANAGED = 1, 2, 13


def to_backend_array(X: Any) -> Any:
    """An array of another array-API library as a NumPy (CPU) or CuPy (CUDA) array.

    Through DLPack, which shares the memory where the library allows (a
    PyTorch tensor, an array-api-strict array); anything else, NumPy and
    CuPy arrays included, is returned unchanged.

    Raises
    ------
    TypeError
        If ``X`` lives on a device other than the CPU or a CUDA GPU, or on a
        CUDA GPU without CuPy installed: the message says how to move it.
    """
    if not _is_foreign_array(X):
        return X
    kind = X.__dlpack_device__()[0] if hasattr(X, "__dlpack_device__") else _DLPACK_CPU
    if kind == _DLPACK_CPU:
        try:
            return np.from_dlpack(X)
        except (AttributeError, BufferError, TypeError, RuntimeError, ValueError):  # no DLPack, or a layout it refuses
            return np.asarray(X)
    if kind in (_DLPACK_CUDA, _DLPACK_CUDA_MANAGED):
        cupy = _import_cupy()
        if cupy is None:
            raise TypeError(
                f"Got a {type(X).__name__} on a CUDA device, and computing there needs CuPy: install "
                "the GPU extra (pip install 'varbayes[gpu]'), or move the array to the CPU first."
            )
        return cupy.from_dlpack(X)
    raise TypeError(
        f"Got a {type(X).__name__} on a device varbayes cannot compute on (DLPack device type {kind}): "
        "move it to the CPU (NumPy) or a CUDA GPU first."
    )


def to_numpy(a: Any) -> Any:
    """``a`` as a NumPy array on the host: from CuPy by a copy, from other
    array-API libraries through :func:`to_backend_array`; NumPy arrays,
    Python scalars and other objects unchanged."""
    if isinstance(a, (np.ndarray, np.generic, numbers.Number)):  # the common case, first
        return a
    a = to_backend_array(a)
    return a.get() if is_gpu_array(a) else a


# -- fused passes over large arrays ----------------------------------------
#
# Dispatched on the array's type (NumPy or CuPy), so that the mixture's
# per-chunk arithmetic, which takes a namespace ``xp``, reaches them too.
# On the GPU, each one replaces several kernels (or a slow generic path) by
# one.  Measured on an H200 (benchmarks/profile_gpu.py, 2026-12-04; n = 10^6,
# d = K = 32, float32, per pass over X in the default 82 241-row chunks):
# CuPy's einsum for the squared norms 62 ms, `inner` 4.6 ms; a
# strided-batched GEMM for the second moments 44 ms, `gram` 16 ms.

@functools.cache
def _cupy_inner() -> Any:
    """sum(u * v) along an axis, one CuPy reduction (compiled per dtype on first use)."""
    return _import_cupy().ReductionKernel("T u, T v", "T z", "u * v", "a + b", "z = a", "0", "varbayes_inner")


@functools.cache
def _cupy_difference() -> Any:
    """(x - hi) - lo, one CuPy elementwise kernel."""
    return _import_cupy().ElementwiseKernel("T x, T hi, T lo", "T z", "z = (x - hi) - lo", "varbayes_difference")


def _one_dtype(arrays: tuple, dtype: Any = None) -> tuple:
    """CuPy arrays cast to ``dtype`` (default: their common type), as NumPy
    promotes: a CuPy kernel's ``T`` takes one type."""
    dtype = _import_cupy().result_type(*arrays) if dtype is None else dtype
    return tuple(a.astype(dtype, copy=False) for a in arrays)


def inner(a: Any, b: Any, axis: int) -> Any:
    """sum(a * b, axis) without forming a * b (a and b of the same shape).

    NumPy's einsum on the CPU; one fused reduction on the GPU.  Sums run in
    the arrays' dtype.
    """
    if is_gpu_array(a):
        return _cupy_inner()(*_one_dtype((a, b)), axis=axis)
    letters = "abcdefgh"[: a.ndim]
    return np.einsum(f"{letters},{letters}->{letters.replace(letters[axis], '')}", a, b)


def difference(x: Any, hi: Any, lo: Any, out: Any = None) -> Any:
    """(x - hi) - lo, broadcast, in one pass (into ``out`` if given); ``lo`` may be None.

    The residuals of float32 data about a float64 centre split as hi + lo
    (``mixture._covariance.split_centers``).  Computed in the dtype of all
    three (or of ``out``) on both devices.
    """
    xp = _import_cupy() if is_gpu_array(x) else np
    if lo is None:
        return xp.subtract(x, hi, out=out)
    if xp is not np:
        args = _one_dtype((x, hi, lo), None if out is None else out.dtype)
        return _cupy_difference()(*args) if out is None else _cupy_difference()(*args, out)
    if out is None:
        out = np.subtract(x, hi, dtype=np.result_type(x, hi, lo))
    else:
        np.subtract(x, hi, out=out)
    out -= lo
    return out


def gram(a: Any, b: Any) -> Any:
    """a_k b_k^T for each k: (K, d, n), (K, e, n) -> (K, d, e), with n long.

    One strided-batched GEMM on the CPU; on the GPU one GEMM per k, for
    which cuBLAS splits the long inner dimension across the device (its
    batched kernels do not, and leave it mostly idle for small d and K).
    """
    if not is_gpu_array(a):
        return np.matmul(a, np.swapaxes(b, 1, 2))
    cupy = _import_cupy()
    out = cupy.empty((a.shape[0], a.shape[1], b.shape[1]), dtype=cupy.result_type(a, b))
    for k in range(a.shape[0]):
        cupy.matmul(a[k], b[k].T, out=out[k])
    return out


class InputNamespace:
    """The array namespace and device of an estimator's input, under
    scikit-learn's ``array_api_dispatch``: where attributes and outputs go.

    Parameters
    ----------
    xp : module
        The array-API namespace of the input (array_api_compat's wrapper).
    device : object
        The input's device, in that namespace's terms.
    """

    def __init__(self, xp: Any, device: Any) -> None:
        self.xp = xp
        self.device = device

    @property
    def name(self) -> str:
        """The library's name ('torch', 'cupy', 'array_api_strict'), without the compat wrapper's prefix."""
        return self.xp.__name__.rsplit(".", 1)[-1]

    def __repr__(self) -> str:
        return f"InputNamespace({self.name}, {self.device!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InputNamespace) and self.name == other.name and str(self.device) == str(other.device)

    def asarray(self, a: Any) -> Any:
        """A NumPy or CuPy array as an array of this namespace on its device.

        Through DLPack where the two libraries and devices allow it (CuPy to
        a CUDA tensor shares the memory), else through a host copy.
        """
        xp = self.xp
        if is_gpu_array(a) and array_api_compat.is_cupy_namespace(xp):
            return a
        try:
            return xp.from_dlpack(a, device=self.device)
        except (AttributeError, TypeError, NotImplementedError, BufferError, ValueError, RuntimeError):
            return xp.asarray(to_numpy(a), device=self.device)

    def attributes(self, values: dict[str, Any]) -> dict[str, Any]:
        """Fitted attributes with every NumPy array (alone or in a tuple) in
        this namespace; scalars and other objects unchanged."""
        def move(v: Any) -> Any:
            if isinstance(v, np.ndarray):
                return self.asarray(v)
            if isinstance(v, tuple) and v and all(isinstance(e, np.ndarray) for e in v):
                return tuple(self.asarray(e) for e in v)
            return v
        return {name: move(v) for name, v in values.items()}


def input_namespace(X: Any) -> InputNamespace | None:
    """The namespace and device that results for input ``X`` go back to, or None.

    None unless scikit-learn's ``array_api_dispatch`` is on and ``X`` is an
    array-API array other than NumPy's (a CuPy array counts: its results are
    CuPy arrays under dispatch, NumPy arrays without).  A Dask array, a list
    or a DataFrame gives None: their results are NumPy arrays (or Dask ones).
    """
    if not sklearn.get_config().get("array_api_dispatch", False):
        return None
    if not (is_gpu_array(X) or _is_foreign_array(X)):
        return None
    return InputNamespace(array_api_compat.array_namespace(X), array_api_compat.device(X))


#: SplitMix64's increment (2^64 / golden ratio) and output multipliers
#: (Steele, Lea & Flood (2014), "Fast splittable pseudorandom number generators").
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def _mix64(z: Any) -> Any:
    """SplitMix64's finaliser: a bijective scramble of uint64 arrays (wraps mod 2^64)."""
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


class Backend:
    """Array operations for one device.

    Parameters
    ----------
    name : {'cpu', 'gpu'}
        'cpu' uses NumPy and SciPy; 'gpu' uses CuPy and cupyx.scipy.

    Attributes
    ----------
    xp : module
        The array namespace, ``numpy`` or ``cupy``.
    name : str
        'cpu' or 'gpu'.
    """

    def __init__(self, name: str = "cpu") -> None:
        if name == "cpu":
            self.xp = np
            self._special = scipy.special
        elif name == "gpu":
            cupy = _import_cupy()
            if cupy is None or not cuda_available():
                raise RuntimeError(
                    "device='gpu' needs CuPy and a CUDA device, and none was "
                    "found. Install the GPU extra (pip install 'varbayes[gpu]') "
                    "on a machine with an NVIDIA GPU, or use device='cpu'."
                )
            import cupyx.scipy.special

            self.xp = cupy
            self._special = cupyx.scipy.special
        else:
            raise ValueError(f"Unknown backend {name!r}; expected 'cpu' or 'gpu'.")
        self.name = name

    def __repr__(self) -> str:
        return f"Backend({self.name!r})"

    def all_on_host(self, mask: Any) -> bool:
        """Whether every entry of ``mask`` is true, for a fast path on small arrays.

        On the GPU it answers False without looking (reading the answer
        would synchronise the device): the caller takes its general path.
        """
        return self.name == "cpu" and bool(mask.all())

    def __reduce__(self) -> tuple:
        # Sent to Dask workers by name (modules do not pickle): each process
        # has its own backend for the device.
        return (get_backend, (self.name,))

    # -- transfers ---------------------------------------------------------
    def asarray(self, a: Any, dtype: Any = None) -> Any:
        """Put ``a`` on this backend's device (no copy when already there;
        arrays of other array-API libraries through :func:`to_backend_array`)."""
        a = to_backend_array(a)
        if self.name == "cpu" and is_gpu_array(a):
            a = a.get()
        return self.xp.asarray(a, dtype=dtype)

    def to_host(self, a: Any) -> Any:
        """Return ``a`` as a NumPy array (or a Python scalar unchanged)."""
        return to_numpy(a)

    def scalar(self, a: Any) -> float:
        """Return a 0-d array as a Python float (one device sync on GPU)."""
        return float(self.to_host(a))

    # -- special functions -------------------------------------------------
    def _shifted_exp(self, a: Any, axis: int) -> tuple[Any, Any]:
        """exp(a - max(a)) along ``axis`` and that max (0 where it is not finite)."""
        xp = self.xp
        amax = xp.max(a, axis=axis, keepdims=True)
        amax = xp.where(xp.isfinite(amax), amax, 0)
        return xp.exp(a - amax), amax

    def logsumexp(self, a: Any, axis: int = -1) -> Any:
        """Numerically stable ``log(sum(exp(a), axis))``; -inf rows stay -inf."""
        xp = self.xp
        e, amax = self._shifted_exp(a, axis)
        out = xp.log(xp.sum(e, axis=axis, keepdims=True))
        out += amax
        return xp.squeeze(out, axis=axis)

    def softmax(self, a: Any, axis: int = -1) -> tuple[Any, Any]:
        """``exp(a - logsumexp(a))`` and ``logsumexp(a)`` along ``axis``, with one exp."""
        xp = self.xp
        e, amax = self._shifted_exp(a, axis)
        total = xp.sum(e, axis=axis, keepdims=True)
        e /= total
        return e, xp.squeeze(xp.log(total) + amax, axis=axis)

    def digamma(self, a: Any) -> Any:
        """The digamma function psi(a) = d log Gamma(a) / da."""
        return self._special.digamma(a)

    def gammaln(self, a: Any) -> Any:
        """log |Gamma(a)|."""
        return self._special.gammaln(a)

    def betaln(self, a: Any, b: Any) -> Any:
        """log B(a, b) = log Gamma(a) + log Gamma(b) - log Gamma(a + b), without
        the cancellation of that sum when one argument is much larger."""
        return self._special.betaln(a, b)

    def log_gamma_ratio(self, x: Any, h: Any) -> Any:
        """log Gamma(x + h) - log Gamma(x) for h >= 0, accurate when x >> h
        (as log Gamma(h) - log B(x, h)); 0 where h = 0."""
        xp = self.xp
        positive = h > 0
        if self.all_on_host(positive):  # (small arrays: the masked form costs more than the functions)
            return self.gammaln(h) - self.betaln(x, h)
        safe = xp.where(positive, h, 1.0)
        return xp.where(positive, self.gammaln(safe) - self.betaln(x, safe), 0.0)

    def multigammaln(self, a: Any, d: int) -> Any:
        """Log of the multivariate gamma function Gamma_d(a), elementwise in ``a``.

        log Gamma_d(a) = d(d-1)/4 log(pi) + sum_{j=1}^{d} log Gamma(a + (1-j)/2)
        (Bishop (2006), eq. B.79 normaliser).
        """
        xp = self.xp
        j = xp.arange(d, dtype=xp.float64)
        a = xp.asarray(a, dtype=xp.float64)
        terms = self.gammaln(a[..., None] - j / 2.0)
        return d * (d - 1) / 4.0 * math.log(math.pi) + terms.sum(axis=-1)

    def multidigamma(self, a: Any, d: int) -> Any:
        """sum_{j=1}^{d} psi(a + (1-j)/2), elementwise in ``a``."""
        xp = self.xp
        j = xp.arange(d, dtype=xp.float64)
        a = xp.asarray(a, dtype=xp.float64)
        return self.digamma(a[..., None] - j / 2.0).sum(axis=-1)

    # -- linear algebra ----------------------------------------------------
    def cholesky(self, a: Any) -> Any:
        """Lower Cholesky factor of each matrix in a stack of shape (..., d, d).

        Raises
        ------
        NotPositiveDefiniteError
            If any matrix is not (numerically) positive definite, on both
            backends.
        """
        xp = self.xp
        if self.name == "cpu":
            try:
                return np.linalg.cholesky(a)
            except np.linalg.LinAlgError as exc:
                raise NotPositiveDefiniteError(str(exc)) from None
        # CuPy does not raise by default: it returns NaN for a non-PD input.
        L = xp.linalg.cholesky(a)
        if bool(xp.isnan(L).any()):
            raise NotPositiveDefiniteError("Matrix is not positive definite")
        return L

    def solve_triangular(self, L: Any, B: Any, lower: bool = True) -> Any:
        """Solve ``L X = B`` for each triangular ``L`` in a stack (..., d, d)."""
        if self.name == "cpu":
            return scipy.linalg.solve_triangular(L, B, lower=lower, check_finite=False)
        # cupyx's solve_triangular is 2-D only; a batched LU solve of a
        # triangular system is exact up to rounding and keeps one code path.
        return self.xp.linalg.solve(L, B)

    def cholesky_update(self, L: Any, v: Any) -> Any:
        """The lower Cholesky factor of L L^T + v v^T, for stacks L (..., d, d), v (..., d).

        By Givens rotations (LINPACK's dchud; Golub & Van Loan (2013),
        sec. 6.5.4), stable whatever the size of v: forming L L^T + v v^T and
        factoring it anew loses the small directions of L L^T when v is large
        (a component 1e20 away from its prior mean adds 1e40 v v^T to a
        unit-scale matrix).  A Python loop over the d columns, vectorised over
        the stack.
        """
        xp = self.xp
        L = L.copy()
        v = v.copy()
        for k in range(L.shape[-1]):
            Lkk, vk = L[..., k, k], v[..., k]
            r = xp.hypot(Lkk, vk)
            c, s = (Lkk / r)[..., None], (vk / r)[..., None]
            column = L[..., k + 1 :, k]
            rest = v[..., k + 1 :]
            L[..., k + 1 :, k], v[..., k + 1 :] = c * column + s * rest, c * rest - s * column
            L[..., k, k] = r
        return L

    def inv_cholesky_transpose(self, L: Any) -> Any:
        """Return ``L^{-T}`` for a stack of lower triangular ``L``.

        If ``L L^T = S`` then ``P = L^{-T}`` satisfies ``P P^T = S^{-1}``: the
        "precision Cholesky" of scikit-learn.
        """
        xp = self.xp
        d = L.shape[-1]
        # A real (contiguous) identity stack: CuPy's batched solve wants one.
        eye = xp.array(xp.broadcast_to(xp.eye(d, dtype=L.dtype), L.shape))
        return xp.swapaxes(self.solve_triangular(L, eye, lower=True), -1, -2)

    # -- random numbers ----------------------------------------------------
    def rng(self, seed: Any = None) -> Any:
        """A random Generator on this device, seeded from an int or a Generator."""
        if isinstance(seed, np.random.RandomState):
            seed = seed.randint(np.iinfo(np.int32).max)
        elif isinstance(seed, np.random.Generator):
            seed = int(seed.integers(np.iinfo(np.int32).max))
        return self.xp.random.default_rng(seed)

    def row_keys(self, X: Any, seed: int) -> Any:
        """A 64-bit key per row of a 2-D float array: a hash of the row's bits and ``seed``.

        With :meth:`keyed_normal`, noise that belongs to each row: a row's
        Monte-Carlo estimate then depends neither on the rows beside it nor
        on their order (identical rows get identical noise).
        """
        xp = self.xp
        X = xp.ascontiguousarray(X + 0.0)  # + 0.0: -0.0 becomes 0.0, equal values equal bits
        bits = X.view(xp.uint64 if X.dtype.itemsize == 8 else xp.uint32).astype(xp.uint64)
        salt = _mix64(xp.arange(bits.shape[1], dtype=xp.uint64) * _GAMMA + xp.asarray(seed, dtype=xp.uint64))
        # Mix every value with its column's salt, sum (mod 2^64), mix again.
        return _mix64(_mix64(bits ^ salt[None, :]).sum(axis=1, dtype=xp.uint64) + _GAMMA)

    def keyed_normal(self, keys: Any, start: int, n: int, dtype: Any) -> Any:
        """Standard normals of shape (len(keys), n) whose entry (i, j) depends
        only on ``keys[i]`` and ``start + j``.

        Counter-based: SplitMix64 outputs of key + counter * gamma give 53-bit
        uniforms, turned into normals by Box-Muller in float64.
        """
        u = self.keyed_uniform(keys, 2 * start, 2 * n, self.xp.float64)
        normal = self.xp.sqrt(-2.0 * self.xp.log(u[:, 0::2])) * self.xp.cos(2.0 * math.pi * u[:, 1::2])
        return normal.astype(dtype)

    def keyed_uniform(self, keys: Any, start: int, n: int, dtype: Any) -> Any:
        """Uniforms in (0, 1) of shape (len(keys), n) whose entry (i, j) depends
        only on ``keys[i]`` and ``start + j``: SplitMix64 outputs of
        key + counter * gamma, 53 bits each."""
        xp = self.xp
        counters = xp.arange(start, start + n, dtype=xp.uint64) * _GAMMA
        z = _mix64(keys[:, None] + counters[None, :])
        return (((z >> np.uint64(11)).astype(xp.float64) + 0.5) * 2.0**-53).astype(dtype)

    def position_keys(self, rows: slice, seed: int) -> Any:
        """A 64-bit key per row position in ``rows``, mixed with ``seed``: noise
        that belongs to a row's place in the data, whatever the chunking."""
        xp = self.xp
        positions = xp.arange(rows.start, rows.stop, dtype=xp.uint64)
        return _mix64(_mix64(positions * _GAMMA + xp.asarray(seed, dtype=xp.uint64)) + _GAMMA)


_BACKENDS: dict[str, Backend] = {}


def get_backend(device: str = "auto", X: Any = None) -> Backend:
    """Choose the backend for an estimator.

    Parameters
    ----------
    device : {'auto', 'cpu', 'gpu'}
        'auto' uses the GPU only when ``X`` is a CuPy array; 'gpu' requires
        CuPy and a CUDA device (a RuntimeError says so otherwise); 'cpu'
        always uses NumPy (CuPy input is copied to the host).
    X : array-like, optional
        The data the estimator will work on.

    Returns
    -------
    Backend
    """
    if device not in DEVICES:
        raise ValueError(
            f"device must be one of {DEVICES}, got {device!r}."
        )
    if device == "auto":
        # A Dask array's blocks are of the type of its _meta.
        device = "gpu" if is_gpu_array(getattr(X, "_meta", X)) else "cpu"
    if device not in _BACKENDS:
        _BACKENDS[device] = Backend(device)
    return _BACKENDS[device]
