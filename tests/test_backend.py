import numpy as np
import pytest
import scipy.special
import sklearn
from numpy.testing import assert_allclose

from varbayes._backend import (
    Backend,
    NotPositiveDefiniteError,
    cuda_available,
    difference,
    get_backend,
    gram,
    inner,
    input_namespace,
    is_gpu_array,
    to_backend_array,
    to_numpy,
)


@pytest.fixture
def be():
    return get_backend("cpu")


def test_auto_uses_cpu_for_numpy_input():
    assert get_backend("auto", np.zeros((2, 2))).name == "cpu"
    assert get_backend("cpu").xp is np


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ValueError, match="device must be one of"):
        get_backend("tpu")


@pytest.mark.skipif(cuda_available(), reason="a CUDA device is present")
def test_gpu_without_cuda_says_what_to_install():
    with pytest.raises(RuntimeError, match=r"varbayes\[gpu\]"):
        get_backend("gpu")


def test_is_gpu_array_false_for_numpy():
    assert not is_gpu_array(np.zeros(3))
    assert not is_gpu_array([1, 2])


def test_logsumexp_matches_scipy_and_keeps_dtype(be):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(50, 7)) * 300
    np.testing.assert_allclose(be.logsumexp(a, axis=1), scipy.special.logsumexp(a, axis=1), rtol=1e-13)
    a32 = a.astype(np.float32)
    assert be.logsumexp(a32, axis=1).dtype == np.float32


def test_softmax_matches_scipy_and_returns_the_log_normaliser(be):
    a = np.random.default_rng(1).normal(size=(50, 7)) * 300
    p, log_norm = be.softmax(a.copy(), axis=1)
    np.testing.assert_allclose(p, scipy.special.softmax(a, axis=1), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(log_norm, scipy.special.logsumexp(a, axis=1), rtol=1e-13)
    p32, n32 = be.softmax(a.astype(np.float32), axis=1)
    assert p32.dtype == n32.dtype == np.float32


def test_logsumexp_of_all_minus_inf_row_is_minus_inf(be):
    a = np.array([[-np.inf, -np.inf], [0.0, 0.0]])
    with np.errstate(divide="ignore"):
        out = be.logsumexp(a, axis=1)
    assert out[0] == -np.inf
    assert out[1] == pytest.approx(np.log(2))


def test_special_functions_match_scipy(be):
    a = np.linspace(0.6, 30.0, 17)
    np.testing.assert_allclose(be.digamma(a), scipy.special.digamma(a))
    np.testing.assert_allclose(be.gammaln(a), scipy.special.gammaln(a))
    for d in (1, 3, 5):
        expected = [scipy.special.multigammaln(x, d) for x in a + d]
        np.testing.assert_allclose(be.multigammaln(a + d, d), expected, rtol=1e-12)
        expected = [sum(scipy.special.digamma(x + (1 - j) / 2) for j in range(1, d + 1)) for x in a + d]
        np.testing.assert_allclose(be.multidigamma(a + d, d), expected, rtol=1e-12)


def _spd_stack(rng, k, d):
    A = rng.normal(size=(k, d, d))
    return A @ A.transpose(0, 2, 1) + d * np.eye(d)


def test_batched_cholesky_and_triangular_solve(be):
    rng = np.random.default_rng(1)
    S = _spd_stack(rng, 4, 5)
    L = be.cholesky(S)
    np.testing.assert_allclose(L @ L.transpose(0, 2, 1), S, rtol=1e-12, atol=1e-12)
    B = rng.normal(size=(4, 5, 3))
    Xs = be.solve_triangular(L, B, lower=True)
    np.testing.assert_allclose(L @ Xs, B, atol=1e-12)
    P = be.inv_cholesky_transpose(L)
    np.testing.assert_allclose(P @ P.transpose(0, 2, 1), np.linalg.inv(S), rtol=1e-10, atol=1e-12)


def test_cholesky_update_adds_a_rank_one_term_stably(be):
    rng = np.random.default_rng(3)
    S = _spd_stack(rng, 4, 5)
    v = rng.normal(size=(4, 5))
    L = be.cholesky_update(be.cholesky(S), v)
    np.testing.assert_allclose(L, be.cholesky(S + v[:, :, None] * v[:, None, :]), rtol=1e-10, atol=1e-12)
    assert np.all(np.triu(L, 1) == 0)
    # I + a^2 (1, 1)(1, 1)^T with a = 1e20: factoring the sum fails (its unit
    # direction is lost); the update keeps it, L_11 = sqrt((1 + 2a^2) / (1 + a^2)).
    a = 1e20
    with pytest.raises(NotPositiveDefiniteError):
        be.cholesky(np.eye(2) + a * a * np.ones((2, 2)))
    L = be.cholesky_update(np.eye(2), np.array([a, a]))
    np.testing.assert_allclose(L, [[a, 0.0], [a, np.sqrt(2.0)]], rtol=1e-15)


def test_log_gamma_ratio_and_betaln_keep_huge_arguments_exact(be):
    x = np.array([0.5, 3.0, 1e10, 1e300])
    h = np.array([2.0, 0.0, 5.0, 7.0])
    small = scipy.special.gammaln(x[:2] + h[:2]) - scipy.special.gammaln(x[:2])
    np.testing.assert_allclose(be.log_gamma_ratio(x, h)[:2], small, rtol=1e-12)
    # For x >> h: log Gamma(x + h) - log Gamma(x) ~ h log x, where the direct
    # difference of two ~x log x numbers loses every digit.
    np.testing.assert_allclose(be.log_gamma_ratio(x, h)[2:], h[2:] * np.log(x[2:]), rtol=1e-8)
    assert be.betaln(2.0, 1e300) == pytest.approx(-2.0 * np.log(1e300), rel=1e-12)  # log Gamma(2) = 0


def test_cholesky_of_non_pd_raises_the_backend_error(be):
    S = np.array([[[1.0, 2.0], [2.0, 1.0]]])
    with pytest.raises(NotPositiveDefiniteError):
        be.cholesky(S)
    assert issubclass(NotPositiveDefiniteError, np.linalg.LinAlgError)


def test_rng_is_seeded_and_on_device(be):
    a = be.rng(3).normal(size=4)
    b = be.rng(3).normal(size=4)
    np.testing.assert_array_equal(a, b)
    r = be.rng(np.random.RandomState(0)).normal(size=2)
    assert isinstance(r, np.ndarray)


def test_to_host_and_asarray_roundtrip(be):
    x = np.arange(6.0).reshape(2, 3)
    assert be.to_host(be.asarray(x)) is x or np.array_equal(be.to_host(be.asarray(x)), x)
    assert be.asarray(x, dtype=np.float32).dtype == np.float32
    assert be.scalar(np.float64(2.5)) == 2.5


def test_fused_passes_match_their_definitions():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4, 50)), rng.normal(size=(3, 4, 50))
    for axis in range(3):
        assert_allclose(inner(a, b, axis), (a * b).sum(axis=axis), rtol=1e-13)
    x, hi, lo = rng.normal(size=(1, 4, 50)), rng.normal(size=(3, 4, 1)), 1e-9 * rng.normal(size=(3, 4, 1))
    assert_allclose(difference(x, hi, lo), (x - hi) - lo, rtol=0, atol=0)
    assert_allclose(difference(x, hi, None), x - hi, rtol=0, atol=0)
    out = np.empty((3, 4, 50))
    assert difference(x, hi, lo, out=out) is out
    mixed = difference(x.astype(np.float32), hi.astype(np.float32), lo)  # promoted over all three
    assert mixed.dtype == np.float64
    want = (x.astype(np.float32).astype(np.float64) - hi.astype(np.float32).astype(np.float64)) - lo
    assert_allclose(mixed, want, rtol=0, atol=0)  # the difference taken in float64 too
    c = rng.normal(size=(3, 2, 50))
    assert_allclose(gram(a, c), np.stack([a[k] @ c[k].T for k in range(3)]), rtol=1e-13)
    assert inner(a.astype(np.float32), b.astype(np.float32), 1).dtype == np.float32


@pytest.mark.gpu
def test_gpu_fused_passes_match_cpu():
    import cupy

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 7, 3000)), rng.normal(size=(5, 7, 3000))
    x, hi = rng.normal(size=(1, 7, 3000)), rng.normal(size=(5, 7, 1))
    lo = 1e-9 * rng.normal(size=(5, 7, 1))
    g = [cupy.asarray(v) for v in (a, b, x, hi, lo)]
    for axis in range(3):
        assert_allclose(to_numpy(inner(g[0], g[1], axis)), inner(a, b, axis), rtol=1e-11)  # other summation order
    assert_allclose(to_numpy(difference(g[2], g[3], g[4])), difference(x, hi, lo), rtol=0, atol=0)
    out = cupy.empty((5, 7, 3000))
    assert difference(g[2], g[3], g[4], out=out) is out
    assert_allclose(to_numpy(out), (x - hi) - lo, rtol=0, atol=0)
    mixed = difference(g[2].astype(cupy.float32), g[3].astype(cupy.float32), g[4])  # promoted over all three
    want = difference(x.astype(np.float32), hi.astype(np.float32), lo)
    assert mixed.dtype == want.dtype == np.float64
    assert_allclose(to_numpy(mixed), want, rtol=0, atol=0)
    assert_allclose(to_numpy(gram(g[0], g[1])), gram(a, b), rtol=1e-11)
    a32 = g[0].astype(cupy.float32)
    assert inner(a32, a32, 1).dtype == cupy.float32 and gram(a32, a32).dtype == cupy.float32


@pytest.mark.gpu
def test_gpu_cholesky_raises_like_cpu():
    import cupy

    gpu = Backend("gpu")
    S = cupy.asarray([[[1.0, 2.0], [2.0, 1.0]]])
    with pytest.raises(NotPositiveDefiniteError):
        gpu.cholesky(S)


@pytest.mark.gpu
def test_gpu_operations_match_cpu():
    import cupy

    gpu, cpu = Backend("gpu"), Backend("cpu")
    rng = np.random.default_rng(2)
    S = _spd_stack(rng, 3, 4)
    a = rng.normal(size=(20, 5))
    assert get_backend("auto", cupy.asarray(a)).name == "gpu"
    np.testing.assert_allclose(gpu.to_host(gpu.logsumexp(cupy.asarray(a), 1)), cpu.logsumexp(a, 1), rtol=1e-12)
    np.testing.assert_allclose(gpu.to_host(gpu.softmax(cupy.asarray(a), 1)[0]), cpu.softmax(a, 1)[0], rtol=1e-12)
    np.testing.assert_allclose(gpu.to_host(gpu.cholesky(cupy.asarray(S))), cpu.cholesky(S), rtol=1e-10)
    L = cpu.cholesky(S)
    np.testing.assert_allclose(
        gpu.to_host(gpu.inv_cholesky_transpose(cupy.asarray(L))), cpu.inv_cholesky_transpose(L), rtol=1e-10
    )
    np.testing.assert_allclose(gpu.to_host(gpu.digamma(cupy.asarray(S))), cpu.digamma(S), rtol=1e-12)
    v = rng.normal(size=(3, 4))
    np.testing.assert_allclose(
        gpu.to_host(gpu.cholesky_update(cupy.asarray(L), cupy.asarray(v))), cpu.cholesky_update(L, v), rtol=1e-12
    )
    x, h = np.array([0.5, 1e10]), np.array([2.0, 5.0])
    np.testing.assert_allclose(
        gpu.to_host(gpu.log_gamma_ratio(cupy.asarray(x), cupy.asarray(h))), cpu.log_gamma_ratio(x, h), rtol=1e-12
    )
    # The keyed normals are the same numbers on both devices.
    keys = gpu.row_keys(cupy.asarray(a), 7)
    np.testing.assert_array_equal(gpu.to_host(keys), cpu.row_keys(a, 7))
    np.testing.assert_allclose(
        gpu.to_host(gpu.keyed_normal(keys, 2, 6, np.float64)), cpu.keyed_normal(cpu.row_keys(a, 7), 2, 6, np.float64),
        rtol=1e-12,
    )


def test_only_the_backend_module_names_cupy():
    """The one place that knows NumPy from CuPy (design.md)."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parents[1] / "varbayes"
    for path in package.rglob("*.py"):
        if path.name == "_backend.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Name):
                names = [node.id]
            assert not any(n.split(".")[0] in ("cupy", "cupyx") for n in names), path


def test_keyed_normals_are_standard_normal_and_belong_to_their_row():
    from scipy import stats

    be = get_backend("cpu")
    X = np.random.default_rng(0).normal(size=(4000, 6))
    keys = be.row_keys(X, seed=3)
    eps = be.keyed_normal(keys, 0, 25, np.float64)
    assert eps.shape == (4000, 25)
    assert stats.kstest(eps.ravel(), "norm").pvalue > 1e-3
    assert abs(eps.mean()) < 0.01 and abs(eps.std() - 1) < 0.01
    # Neither across rows nor across columns correlated.
    assert abs(np.corrcoef(eps[:, 0], eps[:, 1])[0, 1]) < 0.06
    assert abs(np.corrcoef(eps[:-1, 0], eps[1:, 0])[0, 1]) < 0.06
    # A row's draws depend on the row alone: order and neighbours do not matter.
    np.testing.assert_array_equal(be.keyed_normal(be.row_keys(X[::-1], 3), 0, 25, np.float64), eps[::-1])
    np.testing.assert_array_equal(be.keyed_normal(be.row_keys(X[5:6], 3), 0, 25, np.float64), eps[5:6])
    # Counters index the draws; the seed and the row's values change them.
    np.testing.assert_array_equal(be.keyed_normal(keys, 10, 5, np.float64), eps[:, 10:15])
    assert not np.any(be.keyed_normal(be.row_keys(X, 4), 0, 25, np.float64) == eps)
    X2 = X.copy()
    X2[0, 0] = np.nextafter(X2[0, 0], 1.0)
    assert not np.any(be.keyed_normal(be.row_keys(X2, 3), 0, 25, np.float64)[0] == eps[0])
    # Equal values, equal keys: -0.0 and 0.0 compare equal.
    Z = X[:2].copy()
    Z[:, 0] = 0.0
    Zn = Z.copy()
    Zn[:, 0] = -0.0
    np.testing.assert_array_equal(be.row_keys(Z, 3), be.row_keys(Zn, 3))
    # float32 rows have keys too, and the dtype is as asked.
    assert be.keyed_normal(be.row_keys(X.astype(np.float32), 3), 0, 2, np.float32).dtype == np.float32


# -- other array-API libraries --------------------------------------------
def test_a_cpu_tensor_reaches_numpy_without_a_copy():
    torch = pytest.importorskip("torch")
    t = torch.arange(6, dtype=torch.float64).reshape(3, 2)
    a = to_backend_array(t)
    assert isinstance(a, np.ndarray) and a.ctypes.data == t.data_ptr()
    assert_allclose(a, t.numpy())
    assert to_numpy(t).ctypes.data == t.data_ptr()


def test_array_api_strict_arrays_on_either_device_reach_numpy():
    xs = pytest.importorskip("array_api_strict")
    for device in (xs.Device("CPU_DEVICE"), xs.Device("device1")):
        a = to_backend_array(xs.asarray([[1.0, 2.0]], device=device))
        assert isinstance(a, np.ndarray) and a.tolist() == [[1.0, 2.0]]


def test_numpy_cupy_scalars_and_containers_pass_unchanged():
    x = np.ones(3)
    assert to_backend_array(x) is x and to_numpy(x) is x
    assert to_numpy(np.float32(2.0)) == 2.0 and to_numpy(3) == 3
    assert to_backend_array([1.0, 2.0]) == [1.0, 2.0]


def test_input_namespace_only_under_dispatch_and_only_for_other_libraries():
    xs = pytest.importorskip("array_api_strict")
    device = xs.Device("device1")
    a = xs.asarray([1.0, 2.0], device=device)
    assert input_namespace(a) is None  # dispatch off: results are NumPy
    with sklearn.config_context(array_api_dispatch=True):
        assert input_namespace(np.ones(2)) is None and input_namespace([1.0]) is None
        ns = input_namespace(a)
        assert ns.name == "array_api_strict" and ns == input_namespace(xs.asarray([3.0], device=device))
        assert ns != input_namespace(xs.asarray([3.0]))  # another device
        back = ns.asarray(np.arange(3.0))
        assert type(back) is type(a) and back.device == device
        moved = ns.attributes({"means_": np.ones(2), "pair_": (np.ones(1), np.zeros(1)), "n_iter_": 3})
        assert moved["n_iter_"] == 3 and all(type(v) is type(a) for v in (moved["means_"], *moved["pair_"]))


@pytest.mark.gpu
def test_a_cuda_tensor_reaches_cupy_without_a_copy():
    torch = pytest.importorskip("torch")
    import cupy

    t = torch.arange(6, dtype=torch.float32, device="cuda").reshape(3, 2)
    a = to_backend_array(t)
    assert isinstance(a, cupy.ndarray) and a.data.ptr == t.data_ptr()
    assert get_backend("auto", a).name == "gpu"
    with sklearn.config_context(array_api_dispatch=True):
        back = input_namespace(t).asarray(a * 2)
    assert back.device.type == "cuda" and back.cpu().tolist() == [[0.0, 2.0], [4.0, 6.0], [8.0, 10.0]]
