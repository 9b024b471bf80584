"""The variational autoencoder as a scikit-learn transformer and density estimator.

Stochastic amortised variational inference (Kingma & Welling 2013): an
encoder network maps each x to a Gaussian q(z | x), a decoder network maps z
to p(x | z), and both are trained by minibatch Adam on the reparameterised
Monte-Carlo estimate of the ELBO with the closed-form KL (their eq. 10).
The networks and their backward pass are in :mod:`._model` and
:mod:`._layers`; the optimiser in :mod:`._adam`; this module owns the
parameters, the fit loop and the public methods.
"""

from __future__ import annotations

import contextlib
import copy
import math
import numbers
import time
import warnings
from typing import Any

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    DensityMixin,
    TransformerMixin,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._backend import DEVICES, Backend, get_backend
from .._elbo import ELBOTracker
from .._execution import DaskExecutor, get_executor, is_dask_array, one_blas_thread
from .._progress import Progress
from .._validation import (
    check_data,
    check_numpy_array,
    check_option,
    check_random_state_param,
    check_scalar,
    check_verbose,
    check_warm_start,
    checking_parameters_of,
    unchanged_on_error,
)
from ._adam import Adam
from ._batches import batch_slices, block_minibatches, epoch_order
from ._layers import ACTIVATIONS
from ._model import LOGVAR_BOUND, VAENetwork

__all__ = ["VAE", "DivergenceError"]

LIKELIHOODS = ("bernoulli", "gaussian")
DTYPES = ("float32", "float64", None)

#: Rows per chunk in the prediction passes (bounded memory for any n_samples).
CHUNK_ROWS = 1024

#: Initial decoder variances start at least this fraction of the mean variance.
VAR_FLOOR = 1e-3

#: Below this many multiply-adds in a batch's largest layer product, a CPU fit
#: runs BLAS on one thread: for small GEMMs the threads' synchronisation costs
#: more than it saves, and on a loaded machine it was measured 5-100x slower.
SMALL_GEMM = 2**24




def _limit_blas_threads(be: Backend, batch: int, sizes: list[int]) -> Any:
    """A context that runs BLAS single-threaded for small layers on the CPU.

    Uses threadpoolctl (a dependency of scikit-learn), shared by concurrent
    calls (see :func:`~varbayes._execution.one_blas_thread`); a no-op on the GPU or for
    layers large enough to gain from threads.
    """
    largest = max(a * b for a, b in zip(sizes, sizes[1:]))
    if be.name != "cpu" or batch * largest >= SMALL_GEMM:
        return contextlib.nullcontext()
    return one_blas_thread()


#: An epoch whose training ELBO falls below the best of the call by more than
#: this many times max(1, |best|) nats per sample has diverged (see
#: :class:`DivergenceError`).
COLLAPSE_FACTOR = 10.0


class DivergenceError(ValueError):
    """Training diverged.

    Raised by :meth:`VAE.fit` and :meth:`VAE.partial_fit` when the loss, the
    parameters or the validation ELBO become NaN or infinite, or when the
    training ELBO collapses: an epoch's ELBO below the best of the call so
    far (the first minibatch's, at the starting parameters, included) by
    more than ``COLLAPSE_FACTOR`` (10) times ``max(1, |best|)`` nats per sample.
    Minibatch noise moves an epoch's average by a small fraction of the
    bound; a fall by ten times its size is an optimiser that has left the
    region it was climbing (a learning rate far too high), not noise.  As
    with any error, the estimator is left exactly as it was before the call.
    """


class VAE(ClassNamePrefixFeaturesOutMixin, TransformerMixin, DensityMixin, BaseEstimator):
    """Variational autoencoder with hand-written backpropagation.

    The generative model is p(z) = N(0, I), p(x | z) given by a decoder MLP;
    the approximate posterior is q(z | x) = N(mu(x), diag sigma^2(x)) given by
    an encoder MLP.  Training maximises the evidence lower bound::

        ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || p(z))
               ~= 1/L sum_l log p(x | z_l)
                  + 1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2),
        z_l = mu + sigma * eps_l,  eps_l ~ N(0, I)

    (Kingma & Welling 2013, eq. 10) by minibatch Adam, with one noise draw
    per sample and step.  It runs on NumPy (CPU) or CuPy (GPU) through the
    project's backend; no deep-learning framework is involved.

    Parameters
    ----------
    n_components : int, default=2
        Dimension of the latent space (of ``transform``'s output).
    hidden_layer_sizes : tuple of int, default=(100,)
        Hidden widths of the encoder; the decoder uses them in reverse order.
        ``()`` gives linear encoder and decoder (a linear-Gaussian VAE with
        ``likelihood='gaussian'``, whose optimum is probabilistic PCA-like).
    activation : {'relu', 'tanh', 'softplus', 'logistic', 'identity'}, default='relu'
        Hidden-layer activation of both networks.
    likelihood : {'gaussian', 'bernoulli'}, default='gaussian'
        The decoder's distribution.  'bernoulli' takes data in [0, 1]
        (binary, or grayscale intensities as is common) and is computed from
        logits; 'gaussian' takes real data and learns one variance per
        feature.  In a pipeline or cross-validation, scale for 'bernoulli'
        with ``MinMaxScaler(clip=True)``: unclipped, held-out folds fall
        slightly outside [0, 1] and ``score`` raises.
    beta : float, default=1.0
        Weight of the KL term in the training loss (beta-VAE, Higgins et al.
        2017).  The recorded ELBO always uses weight 1.
    kl_warmup : int, default=0
        Number of epochs over which the KL weight rises linearly from 0 to
        ``beta`` (Bowman et al. 2016; Sønderby et al. 2016); 0 disables.
    batch_size : int or 'auto', default='auto'
        Minibatch size; 'auto' is ``min(128, n_samples)``.
    learning_rate : float, default=1e-3
        Adam's step size.
    beta_1, beta_2 : float, default=0.9, 0.999
        Adam's decay rates of the first and second moment estimates, in [0, 1).
    epsilon : float, default=1e-8
        Adam's denominator stabiliser (for the per-sample mean loss, as in
        PyTorch with ``reduction='mean'``).
    max_iter : int, default=200
        Maximum number of epochs (passes over the training data).
    shuffle : bool, default=True
        Whether to shuffle the samples at each epoch.
    tol : float, default=1e-4
        Improvement (nats per sample) that counts as progress: training stops
        when the training loss (or the validation ELBO with
        ``early_stopping``) has not improved by ``tol`` for
        ``n_iter_no_change`` consecutive epochs.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, monitor its ELBO, stop
        when it stops improving and keep the best parameters.
    validation_fraction : float, default=0.1
        Fraction of the data held out with ``early_stopping``, in (0, 1).
    n_iter_no_change : int, default=10
        Epochs without improvement before stopping.
    n_importance : int, default=1
        Number of importance samples k of :meth:`score_samples` (Burda et al.
        2016); k=1 is the ELBO, larger k gives a tighter bound on log p(x).
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling, the validation split and
        the noise of training and of the stochastic estimates (``elbo``,
        ``score_samples``, ``sample``); an int makes every result
        reproducible.  The noise of ``elbo`` and ``score_samples`` is keyed
        by each row's values and the seed, so a row's estimate is the same
        whatever rows are scored with it, and in any order (identical rows
        get identical draws: use several seeds for independent repeats).
    warm_start : bool, default=False
        Continue ``fit`` from the current parameters and Adam state, with the
        same ``n_components``, ``hidden_layer_sizes`` and ``likelihood`` (a
        change is a ValueError that names it).
    verbose : int, default=0
        Print one line per epoch (on stdout); where stderr is a terminal,
        also a progress bar with an ETA (on stderr), updated within epochs.
    dtype : {'float32', 'float64'} or None, default='float32'
        Precision of the parameters and the arithmetic; None follows X
        (float32 kept, anything else float64).  ``transform`` returns this
        dtype.
    device : {'auto', 'cpu', 'gpu'}, default='auto'
        'auto' uses the GPU when X is a CuPy array.  Fitted parameters are
        NumPy arrays on the host whatever the device; during a fit they stay
        on the device and are copied back at its end.

    Attributes
    ----------
    encoder_coefs_, encoder_intercepts_ : list of ndarray
        Weights (fan_in, fan_out) and biases of the encoder's layers; the last
        layer outputs ``[mu, log sigma^2]`` (2 * n_components columns).
    decoder_coefs_, decoder_intercepts_ : list of ndarray
        Weights and biases of the decoder's layers; the last layer outputs
        logits (Bernoulli) or means (Gaussian).
    decoder_log_var_ : ndarray of shape (n_features,) or None
        Log-variance of the Gaussian decoder per feature (clipped to
        [-20, 20] when used); None for the Bernoulli likelihood.
    elbo_ : ELBOTracker
        Training ELBO per epoch (nats per sample, averaged over the epoch's
        minibatches, with KL weight 1) and its terms 'reconstruction',
        'kl', 'kl_weight' and, with ``early_stopping``, 'validation_elbo'.
        Not monotone (the optimisation is stochastic); its plot shows the raw
        and a smoothed curve.
    loss_curve_ : list of float
        Negative training ELBO per epoch (nats per sample).
    validation_scores_ : list of float or None
        Validation ELBO per epoch with ``early_stopping``, else None.
    best_loss_ : float or None
        Lowest training loss, or None with ``early_stopping``.
    best_validation_score_ : float or None
        Highest validation ELBO with ``early_stopping``, else None.
    n_iter_ : int
        Number of epochs run (accumulates over ``partial_fit`` and warm
        starts).
    t_ : int
        Number of training samples seen.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has feature names that are all strings.

    See Also
    --------
    sklearn.decomposition.PCA : the linear, non-probabilistic counterpart.
    sklearn.neural_network.MLPRegressor : the same parameter names.

    Notes
    -----
    The gradient of the summed negative ELBO is computed by hand
    (backpropagation through the reparameterisation); the log-variances are
    clipped so that exp never overflows, and the Bernoulli log-likelihood is
    computed from logits as ``x a - softplus(a)``.  A NaN or infinite loss, or
    a training ELBO that collapses far below its best, raises
    :class:`DivergenceError` (``learning_rate`` is too high) and leaves the
    estimator as it was.  Data whose fourth powers, summed over X, would
    overflow the computation's dtype (the optimiser squares gradients that
    grow with the squared data) is refused before any work: in float32 one
    outlier at 1e10 is enough, and the error suggests ``dtype=np.float64``
    or scaling the data.

    On the CPU, fits and prediction passes with small layers (largest layer
    product under 2**24 multiply-adds per batch) run BLAS on one thread, where
    threads cost more than they save; larger networks use the BLAS threads as
    configured (e.g. with threadpoolctl).

    References
    ----------
    Kingma, D. P. and Welling, M. (2013). Auto-encoding variational Bayes.
    arXiv:1312.6114.

    Burda, Y., Grosse, R. and Salakhutdinov, R. (2016). Importance weighted
    autoencoders. ICLR.

    Kingma, D. P. and Ba, J. (2015). Adam: a method for stochastic
    optimization. ICLR.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from varbayes.vae import VAE
    >>> X = load_digits().data / 16
    >>> vae = VAE(n_components=2, likelihood="bernoulli", max_iter=5, random_state=0)
    >>> Z = vae.fit_transform(X)
    >>> Z.shape, Z.dtype
    ((1797, 2), dtype('float32'))
    """

    def __init__(
        self,
        n_components: int = 2,
        *,
        hidden_layer_sizes: tuple[int, ...] = (100,),
        activation: str = "relu",
        likelihood: str = "gaussian",
        beta: float = 1.0,
        kl_warmup: int = 0,
        batch_size: int | str = "auto",
        learning_rate: float = 1e-3,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        max_iter: int = 200,
        shuffle: bool = True,
        tol: float = 1e-4,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        n_importance: int = 1,
        random_state: Any = None,
        warm_start: bool = False,
        verbose: int = 0,
        dtype: str | None = "float32",
        device: str = "auto",
    ) -> None:
        self.n_components = n_components
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.likelihood = likelihood
        self.beta = beta
        self.kl_warmup = kl_warmup
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.n_importance = n_importance
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.dtype = dtype
        self.device = device

    # ------------------------------------------------------------ validation
    def _check_parameters(self) -> None:
        check_scalar(self.n_components, "n_components", numbers.Integral, low=1)
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool):
            sizes = (sizes,)
        if not isinstance(sizes, (tuple, list)) or any(
            isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in sizes
        ):
            raise ValueError(
                f"The parameter 'hidden_layer_sizes' must be a tuple of positive ints, got {self.hidden_layer_sizes!r}."
            )
        check_option(self.activation, "activation", tuple(ACTIVATIONS))
        check_option(self.likelihood, "likelihood", LIKELIHOODS)
        check_scalar(self.beta, "beta", numbers.Real, low=0.0)
        check_scalar(self.kl_warmup, "kl_warmup", numbers.Integral, low=0)
        if self.batch_size != "auto":
            check_scalar(self.batch_size, "batch_size", numbers.Integral, low=1)
        check_scalar(self.learning_rate, "learning_rate", numbers.Real, low=0.0, include_low=False)
        check_scalar(self.beta_1, "beta_1", numbers.Real, low=0.0, high=1.0, include_high=False)
        check_scalar(self.beta_2, "beta_2", numbers.Real, low=0.0, high=1.0, include_high=False)
        check_scalar(self.epsilon, "epsilon", numbers.Real, low=0.0, include_low=False)
        check_scalar(self.max_iter, "max_iter", numbers.Integral, low=1)
        check_option(self.shuffle, "shuffle", (False, True))
        check_scalar(self.tol, "tol", numbers.Real, low=0.0)
        check_option(self.early_stopping, "early_stopping", (False, True))
        check_scalar(
            self.validation_fraction, "validation_fraction", numbers.Real,
            low=0.0, high=1.0, include_low=False, include_high=False,
        )
        check_scalar(self.n_iter_no_change, "n_iter_no_change", numbers.Integral, low=1)
        check_scalar(self.n_importance, "n_importance", numbers.Integral, low=1)
        check_random_state_param(self.random_state)
        check_option(self.warm_start, "warm_start", (False, True))
        check_verbose(self.verbose)
        check_option(self.dtype, "dtype", DTYPES)
        check_option(self.device, "device", DEVICES)

    def _hidden(self) -> tuple[int, ...]:
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral):
            return (int(sizes),)
        return tuple(int(s) for s in sizes)

    def _compute_dtype(self, X: Any) -> np.dtype:
        if self.dtype is None:
            return np.dtype(np.float32) if X.dtype == np.float32 else np.dtype(np.float64)
        return np.dtype(self.dtype)

    def _check_likelihood_data(self, be: Backend, X: Any) -> None:
        """Bernoulli data must lie in [0, 1]: checked before any work."""
        if self.likelihood != "bernoulli" or X.size == 0:
            return
        lo, hi = be.scalar(X.min()), be.scalar(X.max())
        if lo < 0 or hi > 1:
            raise ValueError(
                f"likelihood='bernoulli' needs data in [0, 1] (binary values or "
                f"intensities), but X has values in [{lo:.6g}, {hi:.6g}]. Scale "
                "X to [0, 1] with MinMaxScaler(clip=True) (plain MinMaxScaler "
                "maps held-out data slightly outside [0, 1], which fails here "
                "in cross-validation), or use likelihood='gaussian'."
            )

    def _validate(self, X: Any, reset: bool, likelihood_data: bool = True) -> tuple[Backend, Any]:
        """Validated X on the device, in the dtype of the (fitted) parameters."""
        planned = (None if self.dtype is None else np.dtype(self.dtype)) if reset else self._fitted_dtype()
        # Adam squares gradients that grow with the squared data: 4th powers.
        # A Dask array (fit, partial_fit) is persisted on its cluster and
        # checked there in one pass.
        X = check_data(self, X, reset=reset, dtype=planned, power=4, persist=True)
        be = get_backend(self.device, X)
        dtype = self._compute_dtype(X) if reset else self._fitted_dtype()
        X = X.astype(dtype) if is_dask_array(X) else be.asarray(X, dtype=dtype)
        if likelihood_data:
            self._check_likelihood_data(be, X)
        return be, X

    def _fitted_dtype(self) -> np.dtype:
        return self.encoder_coefs_[0].dtype

    def _is_fitted(self) -> bool:
        return hasattr(self, "encoder_coefs_")

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the latent dimensions: ``vae0``, ``vae1``, ...

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Checked against ``feature_names_in_`` when given; otherwise unused.

        Returns
        -------
        feature_names_out : ndarray of str objects
        """
        check_is_fitted(self)
        return super().get_feature_names_out(input_features)

    @property
    def _n_features_out(self) -> int:
        """Number of transformed output features (for get_feature_names_out)."""
        return self.n_components

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"] if self.dtype is None else [self.dtype]
        return tags

    # ------------------------------------------------------------ parameters
    def _network(self, be: Backend, n_features: int, dtype: Any) -> VAENetwork:
        return VAENetwork(
            be.xp, n_features, int(self.n_components), self._hidden(), self.activation, self.likelihood, dtype
        )

    def _initial_theta(self, net: VAENetwork, X: Any, be: Backend, rs: np.random.RandomState) -> np.ndarray:
        """Glorot-uniform weights (as scikit-learn's MLP), zero hidden biases.

        The decoder's output starts at the data: its bias is the logit of the
        feature means (Bernoulli) or the means (Gaussian), and the Gaussian
        log-variance that of the data, so early epochs are not spent learning
        the average image.  The encoder starts at q(z | x) ~ N(0, I).  For
        the Gaussian, the output weights of a feature with less than the mean
        variance are scaled down by its standard deviation, and the starting
        variance is floored at ``VAR_FLOOR`` times the mean, so a (near-)
        constant feature does not start with a loss of ~1 / var nats.
        """
        theta = np.zeros(net.params.size, dtype=net.dtype)
        factor = 2.0 if self.activation == "logistic" else 6.0
        for name, (lo, hi, shape) in net.params.offsets.items():
            if len(shape) == 2:
                bound = math.sqrt(factor / (shape[0] + shape[1]))
                theta[lo:hi] = rs.uniform(-bound, bound, size=shape).ravel()
        mean, var = _feature_moments(be, X)
        last = f"decb{len(net.decoder_sizes) - 2}"
        lo, hi, _ = net.params.offsets[last]
        if self.likelihood == "bernoulli":
            p = np.clip(mean, 1e-3, 1 - 1e-3)
            theta[lo:hi] = np.log(p) - np.log1p(-p)
        else:
            theta[lo:hi] = mean
            # A (near-)constant feature would start at variance ~0, and the
            # random initial decoder weights would then cost it ~1/var nats:
            # floor the start at a small fraction of the typical variance.
            typical = float(np.mean(var)) if np.mean(var) > 0 else 1.0
            # Likewise the output weights of low-variance features are shrunk
            # to their scale (zero for a constant feature).
            lo_w, hi_w, shape_w = net.params.offsets[f"decW{len(net.decoder_sizes) - 2}"]
            scale = np.minimum(1.0, np.sqrt(var / typical))
            theta[lo_w:hi_w] = (theta[lo_w:hi_w].reshape(shape_w) * scale).ravel()
            lo, hi, _ = net.params.offsets["log_var_x"]
            theta[lo:hi] = np.clip(
                np.log(np.maximum(var, VAR_FLOOR * typical)), -LOGVAR_BOUND + 1, LOGVAR_BOUND - 1
            )
        return theta

    def _attributes_to_theta(self, net: VAENetwork) -> np.ndarray:
        """The flat parameter vector (host) of the fitted attributes."""
        parts = []
        for name, shape in net.params.shapes:
            if name == "log_var_x":
                arr = self.decoder_log_var_
            else:
                side = "encoder" if name.startswith("enc") else "decoder"
                kind = "coefs_" if name[3] == "W" else "intercepts_"
                arr = getattr(self, f"{side}_{kind}")[int(name[4:])]
            if arr is None or arr.shape != shape:
                raise ValueError(
                    "The fitted parameters do not match the current architecture "
                    "(n_components, hidden_layer_sizes, likelihood or n_features "
                    "changed); refit with warm_start=False."
                )
            parts.append(np.asarray(arr, dtype=net.dtype).ravel())
        return np.concatenate(parts)

    def _theta_to_attributes(self, net: VAENetwork, theta: np.ndarray) -> dict:
        """Fitted attributes (NumPy, host copies) from a host flat vector."""
        def get(name):
            lo, hi, shape = net.params.offsets[name]
            return theta[lo:hi].reshape(shape).copy()

        n_enc, n_dec = len(net.encoder_sizes) - 1, len(net.decoder_sizes) - 1
        return {
            "encoder_coefs_": [get(f"encW{l}") for l in range(n_enc)],
            "encoder_intercepts_": [get(f"encb{l}") for l in range(n_enc)],
            "decoder_coefs_": [get(f"decW{l}") for l in range(n_dec)],
            "decoder_intercepts_": [get(f"decb{l}") for l in range(n_dec)],
            "decoder_log_var_": get("log_var_x") if self.likelihood == "gaussian" else None,
        }

    def _fitted_network(self, be: Backend) -> VAENetwork:
        net = self._network(be, self.n_features_in_, self._fitted_dtype())
        net.params.theta[...] = be.asarray(self._attributes_to_theta(net))
        return net

    # ------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Any = None) -> "VAE":
        """Train the VAE on X for up to ``max_iter`` epochs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (in [0, 1] for ``likelihood='bernoulli'``); NumPy,
            CuPy for a GPU fit, or a Dask array: persisted on its cluster,
            whose blocks then come to the trainer one at a time in a random
            order each epoch, rows shuffled within each block (see the
            "Scaling out" page); never gathered whole.
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self

        Raises
        ------
        DivergenceError
            If training diverges (a non-finite loss or a collapsing ELBO, see
            :class:`DivergenceError`); the estimator is left as it was.
        """
        with checking_parameters_of(self):
            self._check_parameters()
        reset = not (self.warm_start and self._is_fitted())
        with unchanged_on_error(self):
            if not reset:
                check_warm_start(self, self._structure())
            be, X = self._validate(X, reset=reset)
            with self._blas_threads(be, X):
                self._fit(be, X, reset=reset, incremental=False)
        return self

    def partial_fit(self, X: Any, y: Any = None) -> "VAE":
        """One epoch of training on X, continuing from the current state.

        For data that arrives in pieces: each call is one pass over the
        given samples with the Adam state carried over.  ``early_stopping``
        and the convergence check do not apply.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored
            Not used, present for API consistency.

        Returns
        -------
        self
        """
        with checking_parameters_of(self):
            self._check_parameters()
        reset = not self._is_fitted()
        with unchanged_on_error(self):
            if not reset:
                check_warm_start(self, self._structure())
            be, X = self._validate(X, reset=reset)
            with self._blas_threads(be, X):
                self._fit(be, X, reset=reset, incremental=True)
        return self

    def _blas_threads(self, be: Backend, X: Any) -> Any:
        sizes = [X.shape[1], *self._hidden(), 2 * int(self.n_components)]
        stack = contextlib.ExitStack()
        stack.enter_context(_limit_blas_threads(be, self._batch_size(X.shape[0]), sizes))
        # A diverging fit is detected (non-finite loss or parameters) and
        # reported as DivergenceError, so NumPy's overflow warnings on the way
        # there are noise.  (CuPy does not warn.)
        stack.enter_context(np.errstate(over="ignore", invalid="ignore"))
        return stack

    def _batch_size(self, n: int) -> int:
        return min(128, n) if self.batch_size == "auto" else min(int(self.batch_size), n)

    def _fit(self, be: Backend, X: Any, reset: bool, incremental: bool) -> None:
        xp = be.xp
        if reset or not hasattr(self, "_random_state"):
            # One stream per fit, continued by warm starts and partial_fit so
            # that later calls do not replay the same shuffles and noise.
            self._random_state = check_random_state(self.random_state)
        rs = self._random_state
        n_samples, n_features = X.shape
        dtype = X.dtype
        executor = get_executor(X, CHUNK_ROWS)
        early = self.early_stopping and not incremental
        if early:
            n_val = math.ceil(self.validation_fraction * n_samples)
            if n_samples - n_val < 1:
                raise ValueError(
                    f"early_stopping holds out {n_val} of {n_samples} samples "
                    "(validation_fraction), leaving none to train on; lower "
                    "validation_fraction or pass more samples."
                )
            if reset or not hasattr(self, "_split_seed"):
                self._split_seed = int(rs.randint(np.iinfo(np.int32).max))
            # The same split on every warm start (for the same n_samples), so
            # a continued fit never validates on rows it has trained on, and
            # the same noise for every validation pass: epochs, warm starts
            # included, are compared with common random numbers.
            split = np.random.RandomState(self._split_seed)
            order = split.permutation(n_samples)
            val_seed = int(split.randint(np.iinfo(np.int32).max))
            if is_dask_array(X):
                # The validation rows come here (validation_fraction of X);
                # the training rows stay in their blocks, in row order.
                X_val = be.asarray(executor.take(X, np.sort(order[:n_val])))
                X = X[np.sort(order[n_val:])]
            else:
                order = be.asarray(order)
                X_val, X = X[order[:n_val]], X[order[n_val:]]
        n_train = X.shape[0]
        batch = self._batch_size(n_train)

        net = self._network(be, n_features, dtype)
        theta = self._initial_theta(net, X, be, rs) if reset else self._attributes_to_theta(net)
        net.params.theta[...] = be.asarray(theta)
        theta, grad = net.params.theta, net.params.grad
        state = None if reset else getattr(self, "_adam_state", None)
        adam = Adam(xp, net.params.size, dtype, self.learning_rate, self.beta_1, self.beta_2,
                    self.epsilon, grad_scale=batch, state=state)
        eps_rng = be.rng(rs)

        if reset:
            tracker = ELBOTracker(monotone=False, name=type(self).__name__)
            history = {"loss_curve_": [], "validation_scores_": [] if early else None,
                       "n_iter_": 0, "t_": 0}
        else:
            tracker = copy.deepcopy(self.elbo_)
            history = {"loss_curve_": list(self.loss_curve_),
                       "validation_scores_": (list(self.validation_scores_ or []) if early else None),
                       "n_iter_": self.n_iter_, "t_": self.t_}
        # A warm start continues the search for the best epoch: it starts from
        # the best parameters so far (those the last fit returned).
        carry = not reset and early and getattr(self, "best_validation_score_", None) is not None
        best_val, best_theta = (self.best_validation_score_, theta.copy()) if carry else (-np.inf, None)
        best_loss = self.best_loss_ if not reset and getattr(self, "best_loss_", None) is not None else np.inf
        no_improvement = 0
        converged = False
        n_epochs = 1 if incremental else int(self.max_iter)
        n_batches = math.ceil(n_train / batch)
        Xb_buf = xp.empty((batch, n_features), dtype=dtype) if self.shuffle and not executor.distributed else None
        start_time = time.perf_counter()

        # Divergence by collapse: the best training ELBO of this call so far,
        # the first minibatch's (at the starting parameters) included.
        best_elbo = -np.inf

        def fail(epoch: int, step: int, what: str) -> None:
            raise DivergenceError(self._divergence_message(epoch, step, n_batches, what))

        bar = Progress(n_epochs, "epochs", "VAE", enabled=bool(self.verbose))
        with bar:  # the bar goes, whatever ends the loop (an error too)
            for run in range(n_epochs):
                epoch = history["n_iter_"] + 1
                rec_total = kl_total = 0.0
                seen = 0
                w = self.beta
                for step, Xb in enumerate(self._minibatches(be, executor, X, batch, Xb_buf, rs)):
                    nb = Xb.shape[0]
                    seen += nb
                    eps = eps_rng.standard_normal((nb, net.q), dtype=dtype)
                    if self.kl_warmup:
                        w = self.beta * min(1.0, (epoch - 1 + (step + 1) / n_batches) / self.kl_warmup)
                    rec, kl = net.loss_grad(Xb, eps, w)
                    rec, kl = be.scalar(rec), be.scalar(kl)
                    if not math.isfinite(rec + w * kl):
                        fail(epoch, step + 1, "loss")
                    if step == 0 and best_elbo == -np.inf:
                        best_elbo = -(rec + kl) / nb
                    if nb != batch:  # Adam expects the gradient of batch x the mean loss
                        grad *= batch / nb
                    adam.step(theta, grad)
                    rec_total += rec
                    kl_total += kl
                    bar.update(run + (step + 1) / n_batches, f"ELBO {-(rec_total + kl_total) / seen:.4g}")
                if not bool(xp.isfinite(theta).all()):
                    fail(epoch, n_batches, "parameter update")
                history["n_iter_"] = epoch
                history["t_"] += n_train
                train_elbo = -(rec_total + kl_total) / n_train
                if train_elbo < best_elbo - COLLAPSE_FACTOR * max(1.0, abs(best_elbo)):
                    fail(epoch, n_batches, f"training ELBO ({train_elbo:.4g}, against {best_elbo:.4g} at best)")
                best_elbo = max(best_elbo, train_elbo)
                terms = {"reconstruction": -rec_total / n_train, "kl": kl_total / n_train, "kl_weight": w}
                history["loss_curve_"].append(-train_elbo)
                line = f"Epoch {epoch}: ELBO = {train_elbo:.6g} (reconstruction {terms['reconstruction']:.6g}, KL {terms['kl']:.6g})"
                if early:
                    val_elbo = float(np.mean(self._evaluate(be, net, X_val, 1, False, val_seed)))
                    if not math.isfinite(val_elbo):
                        fail(epoch, n_batches, "validation ELBO")
                    terms["validation_elbo"] = val_elbo
                    history["validation_scores_"].append(val_elbo)
                    line += f", validation ELBO = {val_elbo:.6g}"
                    no_improvement = no_improvement + 1 if val_elbo < best_val + self.tol else 0
                    if val_elbo > best_val:
                        best_val = val_elbo
                        best_theta = theta.copy()
                else:
                    loss = -train_elbo
                    no_improvement = no_improvement + 1 if loss > best_loss - self.tol else 0
                    best_loss = min(best_loss, loss)
                if epoch <= self.kl_warmup:
                    # The objective itself moves during the KL warm-up: never stop then.
                    no_improvement = 0
                # One record per epoch: the values are the training curve (raw and
                # smoothed in its plot), the validation ELBO a term beside it.
                tracker.record(train_elbo, "epoch", terms=terms)
                if self.verbose:
                    bar.line(f"{line}, {time.perf_counter() - start_time:.2f} s")
                if not incremental and no_improvement > self.n_iter_no_change:
                    converged = True
                    if self.verbose:
                        what = "Validation ELBO" if early else "Training loss"
                        bar.line(f"{what} did not improve more than tol={self.tol} for "
                                 f"{self.n_iter_no_change} consecutive epochs. Stopping.")
                    break

        if early and best_theta is not None:
            theta[...] = best_theta
        if not incremental and not converged:
            warnings.warn(
                f"Stochastic optimizer: maximum iterations ({self.max_iter}) "
                "reached and the optimization hasn't converged yet.",
                ConvergenceWarning,
            )
        self._set_fitted(net, be.to_host(theta), tracker, history, adam.state(be.to_host), early, best_loss, best_val)

    def _minibatches(self, be: Backend, executor: Any, X: Any, batch: int, buf: Any, rs: np.random.RandomState):
        """One epoch's minibatches.

        In memory: one permutation of all rows (``epoch_order``), taken into
        ``buf``, or the rows in order.  On a Dask array: the blocks in a
        random order, each brought here in turn and its rows permuted (two
        levels of shuffling, so only one block is ever held here), cut into
        minibatches with the rows left at a block's end carried into the next
        (``block_minibatches``).
        """
        xp = be.xp
        if executor.distributed:
            n_blocks = executor.n_blocks(X)
            blocks = executor.blocks(X, rs.permutation(n_blocks) if self.shuffle else range(n_blocks))
            yield from block_minibatches(blocks, batch, self.shuffle, rs, xp)
            return
        order = epoch_order(X.shape[0], self.shuffle, rs)
        order = None if order is None else be.asarray(order)
        for rows in batch_slices(X.shape[0], batch):
            if order is None:
                yield X[rows]
            else:
                Xb = buf[: rows.stop - rows.start]
                xp.take(X, order[rows], axis=0, out=Xb)
                yield Xb

    def _divergence_message(self, epoch: int, step: int, n_batches: int, what: str) -> str:
        """Name the divergence and its cause.  Data that would overflow the
        computation's dtype is refused before training (see ``check_data``),
        so what is left is the optimiser: the learning rate."""
        happened = f"the {what} collapsed" if what.startswith("training ELBO") else f"the {what} became NaN or infinite"
        return (
            f"Training diverged: {happened} at epoch {epoch}, batch {step} of {n_batches}. The "
            f"learning_rate ({self.learning_rate!r}) is probably too high; lower it (or scale the "
            "data). The estimator is left as it was before this call."
        )

    def _set_fitted(self, net, theta, tracker, history, adam_state, early, best_loss, best_val) -> None:
        """Assign every fitted attribute at once (host copies)."""
        for name, value in self._theta_to_attributes(net, np.array(theta, copy=True)).items():
            setattr(self, name, value)
        self.elbo_ = tracker
        self.loss_curve_ = history["loss_curve_"]
        self.validation_scores_ = history["validation_scores_"]
        self.n_iter_ = history["n_iter_"]
        self.t_ = history["t_"]
        self.best_loss_ = None if early else (float(best_loss) if np.isfinite(best_loss) else None)
        self.best_validation_score_ = float(best_val) if early and np.isfinite(best_val) else None
        self._adam_state = adam_state
        self._fitted_structure = self._structure()

    def _structure(self) -> dict:
        """The parameters that shape the fitted weights (a warm start needs them unchanged)."""
        return {"n_components": int(self.n_components), "hidden_layer_sizes": self._hidden(),
                "likelihood": self.likelihood}

    # ------------------------------------------------------------ evaluation
    def _evaluate(self, be: Backend, net: VAENetwork, X: Any, k: int, importance: bool, seed: int) -> np.ndarray:
        """Per-sample bound (float64, host), chunk by chunk.

        ``importance=False``: the mean over k draws of log p(x | z_l) minus
        the closed-form KL (Kingma & Welling 2013, eq. 10).  ``importance=True``
        and k > 1: the importance-weighted bound
        log 1/k sum_l p(x, z_l) / q(z_l | x) (Burda et al. 2016, eq. 8).

        The noise of each row is keyed by the row's values and ``seed``
        (:meth:`Backend.keyed_normal`): a row's estimate does not depend on
        the other rows or their order, and k=1 of either bound is the same
        number.
        """
        with _limit_blas_threads(be, min(CHUNK_ROWS, X.shape[0]), net.encoder_sizes + net.decoder_sizes[1:]):
            return self._evaluate_chunks(be, net, X, k, importance, seed)

    def _evaluate_chunks(self, be: Backend, net: VAENetwork, X: Any, k: int, importance: bool, seed: int) -> np.ndarray:
        xp = be.xp
        out = []
        for lo in range(0, X.shape[0], CHUNK_ROWS):
            Xc = X[lo : lo + CHUNK_ROWS]
            mu, logvar = net.encode(Xc)
            mu, logvar = mu.copy(), logvar.copy()
            keys = be.row_keys(Xc, seed)
            if importance and k > 1:
                log_w = xp.empty((Xc.shape[0], k), dtype=xp.float64)
            else:
                kl = 0.5 * xp.sum(mu * mu + xp.exp(logvar) - 1 - logvar, axis=1, dtype=xp.float64)
                acc = xp.zeros(Xc.shape[0], dtype=xp.float64)
            for l in range(k):
                eps = be.keyed_normal(keys, l * net.q, net.q, mu.dtype)
                z = net.reparameterize(mu, logvar, eps)
                log_px = net.log_px(Xc, net.decode(z))
                if importance and k > 1:
                    # log p(z) - log q(z | x) = 1/2 sum_j (eps_j^2 + logvar_j - z_j^2)
                    log_w[:, l] = log_px + 0.5 * xp.sum(eps * eps + logvar - z * z, axis=1, dtype=xp.float64)
                else:
                    acc += log_px
            if importance and k > 1:
                out.append(be.logsumexp(log_w, axis=1) - math.log(k))
            else:
                out.append(acc / k - kl)
        return be.to_host(xp.concatenate(out)) if out else np.empty(0)

    def _eval_rng(self, be: Backend) -> Any:
        return be.rng(check_random_state(self.random_state))

    def _eval_seed(self) -> int:
        """The key of the estimates' noise: fixed by an int random_state."""
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def transform(self, X: Any) -> np.ndarray:
        """Posterior means mu(x) of q(z | x).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        Z : ndarray of shape (n_samples, n_components)
            In the dtype of the parameters (see ``dtype``).
        """
        check_is_fitted(self)
        if is_dask_array(X):
            return self._on_blocks("transform", X, int(self.n_components), self._fitted_dtype())
        be, X = self._validate(X, reset=False, likelihood_data=False)
        net = self._fitted_network(be)
        with _limit_blas_threads(be, min(CHUNK_ROWS, X.shape[0]), net.encoder_sizes):
            parts = [net.encode(X[lo : lo + CHUNK_ROWS])[0].copy() for lo in range(0, X.shape[0], CHUNK_ROWS)]
        return be.to_host(be.xp.concatenate(parts))

    def inverse_transform(self, X: Any) -> np.ndarray:
        """Decoder means E[x | z] for given latent vectors.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Latent vectors z.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            sigmoid(logits) for the Bernoulli likelihood, the mean for the
            Gaussian.
        """
        check_is_fitted(self)
        dtype = self._fitted_dtype()
        if is_dask_array(X):
            if X.ndim != 2 or X.shape[1] != self.n_components:
                raise ValueError(
                    f"inverse_transform expects latent vectors of shape (n_samples, "
                    f"{self.n_components}), got shape {X.shape}."
                )
            return self._on_blocks("inverse_transform", X, int(self.n_features_in_), dtype, validate=False)
        X = check_numpy_array(X, dtype=dtype)
        be = get_backend(self.device, X)
        Z = be.asarray(X, dtype=dtype)
        if Z.ndim != 2 or Z.shape[1] != self.n_components:
            raise ValueError(
                f"inverse_transform expects latent vectors of shape (n_samples, "
                f"{self.n_components}), got shape {Z.shape}."
            )
        net = self._fitted_network(be)
        with _limit_blas_threads(be, min(CHUNK_ROWS, Z.shape[0]), net.decoder_sizes):
            parts = [net.decoder_mean(net.decode(chunk)) for chunk in _chunks(Z)]
        return be.to_host(be.xp.concatenate(parts))

    def _on_blocks(self, method: str, X: Any, columns: int | None, dtype: Any, validate: bool = True,
                   **kwargs: Any) -> Any:
        """``method`` over the blocks of a Dask array X: a lazy Dask array.

        Each block's chunks are passed to the same method on the workers, so
        the values equal the in-memory ones (the Monte-Carlo noise of each
        row is keyed by the row itself).  X's shape is checked now, its
        values when computed.
        """
        if validate:
            X = check_data(self, X, reset=False)
        shape = (0,) if columns is None else (0, columns)
        return DaskExecutor(CHUNK_ROWS).map_concat(_method_step, np, X, self, method, kwargs,
                                                   out=np.empty(shape, dtype=dtype))

    def sample(self, n_samples: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """Draw samples from the generative model p(z) p(x | z).

        Parameters
        ----------
        n_samples : int, default=1

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            x ~ p(x | z): 0/1 values for the Bernoulli likelihood, Gaussian
            draws otherwise.  Use ``inverse_transform(Z)`` for the means.
        Z : ndarray of shape (n_samples, n_components)
            The latent draws z ~ N(0, I).
        """
        check_is_fitted(self)
        check_scalar(n_samples, "n_samples", numbers.Integral, low=1)
        be = get_backend(self.device)
        xp = be.xp
        dtype = self._fitted_dtype()
        rng = self._eval_rng(be)
        net = self._fitted_network(be)
        Z = rng.standard_normal((n_samples, self.n_components), dtype=dtype)
        parts = []
        for lo in range(0, n_samples, CHUNK_ROWS):
            mean = net.decoder_mean(net.decode(Z[lo : lo + CHUNK_ROWS]))
            if self.likelihood == "bernoulli":
                x = (rng.random(mean.shape, dtype=dtype) < mean).astype(dtype)
            else:
                std = xp.exp(0.5 * net.decoder_log_var())
                x = mean + std * rng.standard_normal(mean.shape, dtype=dtype)
            parts.append(x)
        return be.to_host(xp.concatenate(parts)), be.to_host(Z)

    def elbo(self, X: Any, n_samples: int = 1) -> np.ndarray:
        """Monte-Carlo estimate of the ELBO of each sample (nats).

        ELBO(x) ~= 1/L sum_l log p(x | z_l) - KL(q(z | x) || p(z)), with the KL
        in closed form (Kingma & Welling 2013, eq. 10) and L = ``n_samples``
        draws z_l = mu + sigma eps_l.

        Parameters
        ----------
        X : array-like of shape (n_samples_X, n_features)
        n_samples : int, default=1
            Number of noise draws L per sample.

        Returns
        -------
        elbo : ndarray of shape (n_samples_X,), float64
        """
        check_is_fitted(self)
        check_scalar(n_samples, "n_samples", numbers.Integral, low=1)
        if is_dask_array(X):
            return self._on_blocks("elbo", X, None, np.dtype(np.float64), n_samples=n_samples)
        be, X = self._validate(X, reset=False)
        return self._evaluate(be, self._fitted_network(be), X, int(n_samples), False, self._eval_seed())

    def score_samples(self, X: Any) -> np.ndarray:
        """Importance-weighted lower bound on log p(x) of each sample.

        With k = ``n_importance``,

            log p(x) >= L_k(x) = E[log 1/k sum_l p(x, z_l) / q(z_l | x)],

        and L_1 <= L_k <= L_{k+1} -> log p(x) as k grows (Burda et al. 2016,
        eq. 8 and Theorem 1).  For k=1 this is the ELBO, estimated with the
        closed-form KL exactly as :meth:`elbo` (same noise).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_prob : ndarray of shape (n_samples,), float64
        """
        check_is_fitted(self)
        if is_dask_array(X):
            return self._on_blocks("score_samples", X, None, np.dtype(np.float64))
        be, X = self._validate(X, reset=False)
        net = self._fitted_network(be)
        return self._evaluate(be, net, X, int(self.n_importance), True, self._eval_seed())

    def score(self, X: Any, y: Any = None) -> float:
        """Mean of :meth:`score_samples`: the bound on log p(x) per sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        float
        """
        return float(np.mean(self.score_samples(X)))


def _chunks(X: Any):
    for lo in range(0, X.shape[0], CHUNK_ROWS):
        yield X[lo : lo + CHUNK_ROWS]


def _feature_moments(be: Backend, X: Any) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's mean and variance (float64, host); one pass on the cluster for a Dask array."""
    if is_dask_array(X):
        from .._execution import compute

        X = X.astype(np.float64)
        return compute(X.mean(axis=0), X.var(axis=0))
    xp = be.xp
    return be.to_host(xp.mean(X, axis=0, dtype=xp.float64)), be.to_host(xp.var(X, axis=0, dtype=xp.float64))


def _method_step(Xc: Any, weights: Any, rows: slice, est: "VAE", method: str, kwargs: dict) -> Any:
    """A step of :meth:`VAE._on_blocks`: the fitted estimator's method on one chunk."""
    return getattr(est, method)(Xc, **kwargs)


