"""Stochastic amortised variational inference: the variational autoencoder.

:class:`VAE` is a scikit-learn transformer and density estimator trained by
minibatch Adam with hand-written backpropagation on the project's backend
(NumPy on CPU, CuPy on GPU).
"""

from ._vae import VAE, DivergenceError

__all__ = ["VAE", "DivergenceError"]
