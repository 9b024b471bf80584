"""Input and parameter checks shared by every estimator (varbayes._validation),
through the estimators' public methods."""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse

from varbayes import VAE, BayesianGaussianMixture, GaussianMixture

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

X = np.random.default_rng(0).normal(size=(100, 3))
ESTIMATORS = {
    "gmm": lambda **kw: GaussianMixture(2, random_state=0, **kw),
    "bgmm": lambda **kw: BayesianGaussianMixture(n_components=2, random_state=0, **kw),
    "vae": lambda **kw: VAE(2, hidden_layer_sizes=(4,), max_iter=2, random_state=0, **kw),
}


@pytest.mark.parametrize(
    "kind, change",
    [
        ("gmm", {"n_components": 3}),
        ("gmm", {"covariance_type": "diag"}),
        ("bgmm", {"covariance_type": "tied"}),
        ("bgmm", {"weight_concentration_prior_type": "dirichlet_distribution"}),
        ("vae", {"likelihood": "bernoulli"}),
        ("vae", {"hidden_layer_sizes": (5,)}),
        ("vae", {"n_components": 3}),
    ],
)
def test_a_warm_start_with_a_changed_structure_names_the_parameter(kind, change):
    # n_components 2 -> 3 used to keep 2 components silently; the others
    # gave raw broadcasting errors.
    est = ESTIMATORS[kind](warm_start=True).fit(X)
    (name, value), = change.items()
    est.set_params(**change)
    data = np.clip(X, 0, 1) if value == "bernoulli" else X
    with pytest.raises(ValueError, match=rf"{name} is now .* Refit with warm_start=False"):
        est.fit(data)
    if kind == "vae":
        with pytest.raises(ValueError, match=rf"{name} is now"):
            est.partial_fit(data)
    # Without warm_start the new structure is simply fitted.
    est.set_params(warm_start=False).fit(data)


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_masked_arrays_are_refused(kind):
    Xm = np.ma.masked_array(X.copy(), mask=np.zeros(X.shape, bool))
    Xm[0, 0] = 1e6
    Xm.mask[0, 0] = True  # used to be fitted as if unmasked
    est = ESTIMATORS[kind]()
    with pytest.raises(ValueError, match="masked array"):
        est.fit(Xm)
    est.fit(X)
    with pytest.raises(ValueError, match="masked array"):
        est.score_samples(Xm)


@pytest.mark.parametrize("kind", list(ESTIMATORS))
def test_values_whose_squares_overflow_are_one_clear_error_without_warnings(kind):
    # fit(X * 1e300) used to emit 11-20 RuntimeWarnings before its error.
    est = ESTIMATORS[kind](**({"dtype": "float64"} if kind == "vae" else {}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="too large to compute with in float64.*Scale the data"):
            est.fit(X * 1e300)
    # Squares for the mixtures; fourth powers for the VAE, whose optimiser
    # squares gradients that grow with the squared data.
    if kind == "vae":
        with pytest.raises(ValueError, match="4th powers"):
            est.fit(X * 1e80)
        est.fit(X * 1e70)
    else:
        est.fit(X * 1e150)


@pytest.mark.parametrize("bad", [{"a": 1}, "abc", "1.5", {1, 2}])
@pytest.mark.parametrize(
    "make, name",
    [
        (lambda v: GaussianMixture(2, weights_init=v), "weights_init"),
        (lambda v: GaussianMixture(2, means_init=v), "means_init"),
        (lambda v: GaussianMixture(2, precisions_init=v), "precisions_init"),
        (lambda v: BayesianGaussianMixture(mean_prior=v), "mean_prior"),
        (lambda v: BayesianGaussianMixture(covariance_prior=v), "covariance_prior"),
    ],
)
def test_a_non_numeric_array_parameter_is_named(make, name, bad):
    with pytest.raises(ValueError, match=rf"The parameter '{name}' must be an array-like of numbers"):
        make(bad).fit(X)


def test_sparse_input_is_a_type_error_as_in_scikit_learn():
    # The README says so: sparse X is a TypeError (scikit-learn's), every
    # other bad input a ValueError.
    for make in ESTIMATORS.values():
        with pytest.raises(TypeError, match="Sparse data was passed"):
            make().fit(scipy.sparse.csr_matrix(X))


# scikit-learn's own tests match these messages (sklearn/mixture/tests).
@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda: GaussianMixture(2, weights_init=np.full((2, 1), 0.5)),
         re.escape("The parameter 'weights' should have the shape of (2,), but got (2, 1)")),
        (lambda: GaussianMixture(2, weights_init=[0.2, 0.2]),
         re.escape("The parameter 'weights' should be normalized, but got sum(weights) = 0.40000")),
        (lambda: GaussianMixture(2, weights_init=[1.5, -0.5]),
         re.escape("The parameter 'weights' should be in the range [0, 1], but got")),
        (lambda: GaussianMixture(2, means_init=np.zeros((3, 3))), "The parameter 'means' should have the shape of "),
        (lambda: GaussianMixture(2, precisions_init=np.ones((3, 3, 3))),
         "The parameter 'full precision' should have the shape of"),
        (lambda: GaussianMixture(2, covariance_type="tied", precisions_init=np.ones((4, 4))),
         "The parameter 'tied precision' should have the shape of"),
        (lambda: GaussianMixture(2, precisions_init=np.stack([np.diag([-1.0, 1, 1])] * 2)),
         "'full precision' should be symmetric, positive-definite"),
        (lambda: GaussianMixture(2, covariance_type="tied", precisions_init=np.diag([-1.0, 1, 1])),
         "'tied precision' should be symmetric, positive-definite"),
        (lambda: GaussianMixture(2, covariance_type="diag", precisions_init=-np.ones((2, 3))),
         "'diag precision' should be positive"),
        (lambda: GaussianMixture(2, covariance_type="spherical", precisions_init=-np.ones(2)),
         "'spherical precision' should be positive"),
        (lambda: BayesianGaussianMixture(degrees_of_freedom_prior=2.0),
         re.escape("The parameter 'degrees_of_freedom_prior' should be greater than 2, but got 2.000.")),
        (lambda: BayesianGaussianMixture(mean_prior=np.zeros(4)), "The parameter 'means' should have the shape of"),
        (lambda: BayesianGaussianMixture(covariance_prior=np.eye(4)),
         "The parameter 'full covariance_prior' should have the shape of"),
        (lambda: BayesianGaussianMixture(covariance_prior=np.diag([-1.0, 1, 1])),
         "'full precision' should be symmetric, positive-definite"),
        (lambda: BayesianGaussianMixture(covariance_type="diag", covariance_prior=-np.ones(3)),
         "'diag precision' should be positive"),
        (lambda: GaussianMixture(12), "Expected n_samples >= n_components"),
    ],
)
def test_errors_speak_scikit_learns_words(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make().fit(X[:10])


def test_sample_count_error_speaks_scikit_learns_words():
    for est in (GaussianMixture(2, random_state=0), BayesianGaussianMixture(n_components=2, random_state=0)):
        est.fit(X)
        with pytest.raises(ValueError, match=re.escape("Invalid value for 'n_samples': 0.")):
            est.sample(0)


@pytest.mark.parametrize(
    "est, name",
    [
        (GaussianMixture(tol=-1.0), "tol"),
        (GaussianMixture(n_components=1.5), "n_components"),
        (GaussianMixture(init_params="magic"), "init_params"),
        (BayesianGaussianMixture(weight_concentration_prior=0.0), "weight_concentration_prior"),
        (BayesianGaussianMixture(random_state="seed"), "random_state"),
        (VAE(learning_rate=0.0), "learning_rate"),
        (VAE(activation="swish"), "activation"),
    ],
)
def test_invalid_constructor_parameters_are_scikit_learns_error(est, name):
    # scikit-learn's class (a ValueError and a TypeError) and the pattern its
    # common parameter-validation test matches.
    from sklearn.utils._param_validation import InvalidParameterError

    pattern = rf"The '{name}' parameter of {type(est).__name__} must be .* Got .* instead\."
    with pytest.raises(InvalidParameterError, match=pattern) as info:
        est.fit(X)
    assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)


# -- arrays of other array-API libraries ------------------------------------
def _others():
    import varbayes as vb

    rng = np.random.RandomState(0)
    X = rng.randn(60, 3)
    y = X @ [1.0, 2.0, 0.0] + 0.1 * rng.randn(60)
    return X, [(vb.VBPCA(n_components=2), None, "transform"),
               (vb.VBPCAImputer(n_components=2), None, "transform"),
               (vb.VBLinearRegression(), y, "predict"),
               (vb.VBLogisticRegression(), (y > 0).astype(float), "predict_proba"),
               (vb.VAE(2, max_iter=2, hidden_layer_sizes=(4,), random_state=0), None, "transform")]


@pytest.mark.parametrize("dispatch", [False, True])
def test_estimators_without_array_api_support_take_other_arrays_and_give_numpy(dispatch):
    """Every estimator takes X (and y) from array-api-strict, which NumPy
    cannot read directly, through DLPack, with or without scikit-learn's
    dispatch, and fits as it does on the NumPy array."""
    import sklearn

    xs = pytest.importorskip("array_api_strict")
    X, cases = _others()
    for est, y, method in cases:
        reference = getattr(sklearn.base.clone(est).fit(X, y), method)(X)
        with sklearn.config_context(array_api_dispatch=dispatch):
            Xs = xs.asarray(X, device=xs.Device("device1"))
            ys = None if y is None else xs.asarray(y, device=xs.Device("device1"))
            out = getattr(est.fit(Xs, ys), method)(Xs)
        assert isinstance(out, np.ndarray), type(est).__name__
        np.testing.assert_allclose(out, reference, rtol=1e-12, err_msg=type(est).__name__)
        if hasattr(est, "inverse_transform"):  # latent vectors of the other library too
            with sklearn.config_context(array_api_dispatch=dispatch):
                back = est.inverse_transform(xs.asarray(out, device=xs.Device("device1")))
            np.testing.assert_allclose(back, est.inverse_transform(out), rtol=1e-12)
        if hasattr(est, "predictive_log_pdf"):
            np.testing.assert_allclose(est.predictive_log_pdf(Xs, ys), est.predictive_log_pdf(X, y), rtol=1e-12)
