"""Both mixtures under scikit-learn's array-API dispatch.

scikit-learn's own checks (``check_array_api_input`` for every namespace and
device installed, mixed inputs, the same-namespace check) run from
``parametrize_with_checks`` in test_sklearn_compat.py and test_bayesian.py;
here: the values, the attributes of every covariance type, every method and
the paths those checks do not take (partial_fit, sample, a Dask-free GPU run).
"""

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose
from sklearn.utils.estimator_checks import check_array_api_input_and_values

from varbayes import BayesianGaussianMixture, GaussianMixture
from varbayes._backend import to_numpy

xs = pytest.importorskip("array_api_strict")
StrictArray = type(xs.asarray(0.0))

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ESTIMATORS = [
    GaussianMixture(n_components=2, random_state=0),
    BayesianGaussianMixture(n_components=2, random_state=0),
    BayesianGaussianMixture(n_components=2, weight_concentration_prior_type="dirichlet_process", random_state=0),
]


def _data(seed=0, n=60, d=3):
    rng = np.random.RandomState(seed)
    return np.vstack([rng.randn(n // 2, d), rng.randn(n - n // 2, d) + 4.0])


def _array_attributes(est):
    return {k: v for k, v in vars(est).items() if isinstance(v, np.ndarray)}


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
@pytest.mark.parametrize("namespace, device", [("array_api_strict", "device1"), ("torch", "cpu")])
def test_scikit_learn_values_check(estimator, namespace, device):
    """scikit-learn's check with values: attributes and outputs equal the NumPy fit's."""
    pytest.importorskip(namespace)
    check_array_api_input_and_values(type(estimator).__name__, estimator, namespace, device_name=device)


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_every_attribute_and_output_in_the_input_namespace(cls, covariance_type):
    X = _data()
    device = xs.Device("device1")
    est = cls(n_components=2, covariance_type=covariance_type, random_state=0).fit(X)
    with sklearn.config_context(array_api_dispatch=True):
        Xs = xs.asarray(X, device=device)
        est_xp = cls(n_components=2, covariance_type=covariance_type, random_state=0).fit(Xs)
        outputs = {m: getattr(est_xp, m)(Xs) for m in ("predict", "predict_proba", "score_samples")}
        score = est_xp.score(Xs)
    attributes = _array_attributes(est)
    assert attributes, "the NumPy fit has array attributes"
    for name, value in attributes.items():
        moved = getattr(est_xp, name)
        assert isinstance(moved, StrictArray) and moved.device == device, name
        assert_allclose(to_numpy(moved), value, rtol=1e-10, atol=1e-12, err_msg=name)
    for method, out in outputs.items():
        assert isinstance(out, StrictArray) and out.device == device, method
        assert_allclose(to_numpy(out), getattr(est, method)(X), rtol=1e-10, atol=1e-12, err_msg=method)
    assert isinstance(score, float) and score == pytest.approx(est.score(X), rel=1e-12)


def test_dirichlet_process_weight_concentration_pair_moves_too():
    # A tuple attribute: scikit-learn's checks look at array attributes only.
    kw = dict(n_components=2, weight_concentration_prior_type="dirichlet_process", random_state=0)
    ref = BayesianGaussianMixture(**kw).fit(_data())
    with sklearn.config_context(array_api_dispatch=True):
        est = BayesianGaussianMixture(**kw).fit(xs.asarray(_data()))
    for moved, value in zip(est.weight_concentration_, ref.weight_concentration_):
        assert isinstance(moved, StrictArray)
        assert_allclose(to_numpy(moved), value, rtol=1e-10)


@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_warm_start_partial_fit_and_sample_read_attributes_of_the_namespace(cls):
    X = _data()
    ref = cls(n_components=2, random_state=0, max_iter=3, warm_start=True).fit(X).fit(X)
    with sklearn.config_context(array_api_dispatch=True):
        Xs = xs.asarray(X)
        est = cls(n_components=2, random_state=0, max_iter=3, warm_start=True).fit(Xs).fit(Xs)
        assert_allclose(to_numpy(est.means_), ref.means_, rtol=1e-10)
        samples, labels = est.sample(5)
        assert isinstance(samples, StrictArray) and samples.shape == (5, 3)
        online = cls(n_components=2, random_state=0, learning_method="online", batch_size=20).partial_fit(Xs)
        assert isinstance(online.means_, StrictArray)
        assert isinstance(online.partial_fit(Xs).predict(Xs), StrictArray)
    assert_allclose(to_numpy(samples), ref.sample(5)[0], rtol=1e-12)


@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_another_namespace_at_predict_is_refused_and_changes_nothing(cls):
    X = _data()
    with sklearn.config_context(array_api_dispatch=True):
        est = cls(n_components=2, random_state=0).fit(xs.asarray(X))
        before = {k: to_numpy(v) for k, v in _array_attributes(est).items()} | {
            k: to_numpy(v) for k, v in vars(est).items() if isinstance(v, StrictArray)}
        for method in ("predict", "predict_proba", "score_samples", "score"):
            with pytest.raises(ValueError, match=rf"{cls.__name__}\.{method}\(\) must use the same namespace"):
                getattr(est, method)(X)
    for name, value in before.items():
        assert_allclose(to_numpy(getattr(est, name)), value, err_msg=name)
    # Without dispatch, the same estimator takes NumPy input and gives NumPy output.
    assert isinstance(est.predict(X), np.ndarray)


@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_without_dispatch_attributes_stay_numpy_for_foreign_input(cls):
    torch = pytest.importorskip("torch")
    X = _data()
    est = cls(n_components=2, random_state=0).fit(torch.asarray(X))
    ref = cls(n_components=2, random_state=0).fit(X)
    for name, value in _array_attributes(ref).items():
        assert isinstance(getattr(est, name), np.ndarray), name
        assert_allclose(getattr(est, name), value, rtol=1e-12, err_msg=name)
    assert isinstance(est.predict(torch.asarray(X)), np.ndarray)


def test_float32_tensor_fits_in_float32_and_sample_weight_from_another_namespace():
    torch = pytest.importorskip("torch")
    X = _data().astype(np.float32)
    w = np.linspace(0.5, 2.0, X.shape[0])
    ref = GaussianMixture(n_components=2, random_state=0).fit(X, sample_weight=w)
    with sklearn.config_context(array_api_dispatch=True):
        est = GaussianMixture(n_components=2, random_state=0).fit(torch.asarray(X), sample_weight=xs.asarray(w))
    assert est.means_.dtype == torch.float32
    assert_allclose(est.means_.numpy(), ref.means_, rtol=1e-5)


@pytest.mark.gpu
@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_cuda_inputs_fit_on_the_gpu_and_answer_there(cls):
    """A CUDA tensor reaches CuPy without a copy; attributes and outputs go back
    to the tensor's device; CuPy input under dispatch stays CuPy."""
    import cupy

    torch = pytest.importorskip("torch")
    X = _data()
    ref = cls(n_components=2, random_state=0).fit(X)
    Xt = torch.asarray(X, device="cuda")
    with sklearn.config_context(array_api_dispatch=True):
        est = cls(n_components=2, random_state=0).fit(Xt)
        labels = est.predict(Xt)
        est_cp = cls(n_components=2, random_state=0).fit(cupy.asarray(X))
        proba = est_cp.predict_proba(cupy.asarray(X))
    assert est.means_.device.type == "cuda" and labels.device.type == "cuda"
    assert_allclose(est.means_.cpu().numpy(), ref.means_, rtol=1e-8)
    assert isinstance(est_cp.means_, cupy.ndarray) and isinstance(proba, cupy.ndarray)
    assert_allclose(proba.get(), ref.predict_proba(X), atol=1e-8)


@pytest.mark.parametrize("cls", [GaussianMixture, BayesianGaussianMixture])
def test_continuing_a_fit_on_arrays_of_another_namespace_is_refused(cls):
    """A warm start or a continued stream under dispatch takes arrays like the
    fit's, as predict does; a new fit (warm_start=False) takes any."""
    X = _data()
    with sklearn.config_context(array_api_dispatch=True):
        warm = cls(n_components=2, random_state=0, max_iter=3, warm_start=True).fit(xs.asarray(X))
        stream = cls(n_components=2, random_state=0, batch_size=20).partial_fit(xs.asarray(X))
        means = (to_numpy(warm.means_), to_numpy(stream.means_))
        with pytest.raises(ValueError, match=rf"{cls.__name__}\.fit\(\) must use the same namespace"):
            warm.fit(X)
        with pytest.raises(ValueError, match=rf"{cls.__name__}\.partial_fit\(\) must use the same namespace"):
            stream.partial_fit(X)
        assert_allclose(to_numpy(warm.means_), means[0])
        assert_allclose(to_numpy(stream.means_), means[1])
        assert isinstance(warm.set_params(warm_start=False).fit(X).means_, np.ndarray)


def test_array_parameters_may_be_arrays_of_another_namespace():
    X = _data()
    means = xs.asarray(np.array([[0.0, 0.0, 0.0], [4.0, 4.0, 4.0]]), device=xs.Device("device1"))
    ref = GaussianMixture(n_components=2, means_init=to_numpy(means), random_state=0).fit(X)
    est = GaussianMixture(n_components=2, means_init=means, random_state=0).fit(X)
    assert_allclose(est.means_, ref.means_, rtol=1e-12)
