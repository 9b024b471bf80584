"""The VAE's networks and its negative ELBO, with the backward pass beside it.

Encoder  q(z | x) = N(mu(x), diag exp(logvar(x))):  x -> MLP -> [mu | logvar]
Decoder  p(x | z):  z -> MLP -> logits (Bernoulli) or mean (Gaussian, with a
learned per-feature log-variance ``log_var_x``).
Prior    p(z) = N(0, I).

For a batch X and noise eps ~ N(0, I), z = mu + exp(logvar / 2) * eps
(reparameterisation) and the loss is the negative ELBO summed over the batch,

    L = sum_n [ -log p(x_n | z_n) + kl_weight * KL(q(z | x_n) || p(z)) ],
    KL = 1/2 sum_j (mu_j^2 + exp(logvar_j) - 1 - logvar_j)

(Kingma & Welling 2013, eq. 10 and Appendix B).  :meth:`VAENetwork.loss_grad`
returns its terms and writes dL/dtheta into ``params.grad``.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from ._layers import MLP, ParamVector, sigmoid, softplus_sum

__all__ = ["LOGVAR_BOUND", "VAENetwork"]

#: Log-variances (of q(z|x) and of the Gaussian decoder) are clipped to
#: [-LOGVAR_BOUND, LOGVAR_BOUND] so that exp(logvar) can neither overflow nor
#: underflow, in float32 as in float64; the gradient is zero beyond the clip.
LOGVAR_BOUND = 20.0

LOG_2PI = math.log(2.0 * math.pi)


class VAENetwork:
    """Encoder, decoder and loss of a VAE on one device, in one dtype.

    Parameters
    ----------
    xp : module
        Array namespace (NumPy or CuPy).
    n_features, n_latent : int
        Dimensions of x and z.
    hidden_layer_sizes : sequence of int
        Hidden widths of the encoder; the decoder mirrors them.
    activation : str
        Hidden activation of both networks.
    likelihood : {'bernoulli', 'gaussian'}
    dtype : dtype
    """

    def __init__(
        self,
        xp: Any,
        n_features: int,
        n_latent: int,
        hidden_layer_sizes: Sequence[int],
        activation: str,
        likelihood: str,
        dtype: Any,
    ) -> None:
        self.xp = xp
        self.n_features = n_features
        self.q = n_latent
        self.likelihood = likelihood
        self.dtype = dtype
        hidden = list(hidden_layer_sizes)
        self.encoder_sizes = [n_features, *hidden, 2 * n_latent]
        self.decoder_sizes = [n_latent, *hidden[::-1], n_features]
        shapes = MLP.parameter_shapes("enc", self.encoder_sizes) + MLP.parameter_shapes("dec", self.decoder_sizes)
        if likelihood == "gaussian":
            shapes.append(("log_var_x", (n_features,)))
        self.params = ParamVector(xp, shapes, dtype)
        self.encoder = MLP(self.params, "enc", self.encoder_sizes, activation)
        self.decoder = MLP(self.params, "dec", self.decoder_sizes, activation)
        if likelihood == "gaussian":
            self.log_var_x = self.params.view("log_var_x")
            self.g_log_var_x = self.params.view("log_var_x", grad=True)
        self._buffers: dict[int, dict] = {}

    # ------------------------------------------------------------ buffers
    def _buf(self, n: int) -> dict:
        buf = self._buffers.get(n)
        if buf is None:
            xp, q, d, dt = self.xp, self.q, self.n_features, self.dtype
            buf = self._buffers[n] = {
                "std": xp.empty((n, q), dtype=dt),
                "var": xp.empty((n, q), dtype=dt),
                "z": xp.empty((n, q), dtype=dt),
                "d_enc": xp.empty((n, 2 * q), dtype=dt),
                "d_out": xp.empty((n, d), dtype=dt),
                "tmp": xp.empty((n, d), dtype=dt),
            }
        return buf

    # ------------------------------------------------------------ forward
    def encode(self, X: Any) -> tuple[Any, Any]:
        """mu and logvar (clipped in place) of q(z | x): views of the encoder output."""
        H = self.encoder.forward(X)
        mu, logvar = H[:, : self.q], H[:, self.q :]
        self.xp.clip(logvar, -LOGVAR_BOUND, LOGVAR_BOUND, out=logvar)
        return mu, logvar

    def reparameterize(self, mu: Any, logvar: Any, eps: Any) -> Any:
        """z = mu + exp(logvar / 2) * eps into a buffer (std kept for backward)."""
        xp = self.xp
        b = self._buf(mu.shape[0])
        std, z = b["std"], b["z"]
        xp.multiply(logvar, 0.5, out=std)
        xp.exp(std, out=std)
        xp.multiply(std, eps, out=z)
        z += mu
        return z

    def decode(self, z: Any) -> Any:
        """The decoder's output: logits (Bernoulli) or means (Gaussian)."""
        return self.decoder.forward(z)

    def decoder_log_var(self) -> Any:
        """The Gaussian decoder's per-feature log-variance, clipped."""
        return self.xp.clip(self.log_var_x, -LOGVAR_BOUND, LOGVAR_BOUND)

    # ------------------------------------------------------------ the loss
    def loss_grad(self, X: Any, eps: Any, kl_weight: float) -> tuple[Any, Any]:
        """Forward and backward pass for one batch.

        Parameters
        ----------
        X : array of shape (n, n_features)
        eps : array of shape (n, n_latent)
            Standard normal noise of the reparameterisation.
        kl_weight : float
            Weight of the KL term in the loss (beta times the warm-up factor);
            the returned KL is unweighted.

        Returns
        -------
        rec, kl : 0-d arrays on the device
            sum_n -log p(x_n | z_n) and sum_n KL(q(z | x_n) || p(z)); the loss
            is ``rec + kl_weight * kl`` and its gradient is in ``params.grad``.
        """
        xp = self.xp
        n = X.shape[0]
        b = self._buf(n)
        mu, logvar = self.encode(X)
        z = self.reparameterize(mu, logvar, eps)
        out = self.decode(z)
        d_out = b["d_out"]
        rec = self._reconstruction_loss_grad(X, out, d_out, b["tmp"])
        dz = self.decoder.backward(d_out, input_grad=True)

        # KL = 1/2 sum(mu^2 + var - 1 - logvar), var = std^2.
        std = b["std"]
        var = b["var"]
        xp.multiply(std, std, out=var)
        kl = 0.5 * (xp.vdot(mu, mu) + var.sum() - logvar.sum()) - 0.5 * mu.size

        # dL/dmu = dz + w mu;  dL/dlogvar = dz * (z - mu) / 2 + w (var - 1) / 2.
        d_enc = b["d_enc"]
        d_mu, d_logvar = d_enc[:, : self.q], d_enc[:, self.q :]
        w = float(kl_weight)
        xp.multiply(mu, w, out=d_mu)
        d_mu += dz
        xp.subtract(z, mu, out=d_logvar)
        d_logvar *= dz
        var -= 1
        var *= w
        d_logvar += var
        d_logvar *= 0.5
        d_logvar *= xp.abs(logvar) < LOGVAR_BOUND  # zero beyond the clip
        self.encoder.backward(d_enc, input_grad=False)
        return rec, kl

    def _reconstruction_loss_grad(self, X: Any, out: Any, d_out: Any, tmp: Any) -> Any:
        """sum -log p(X | out), with d/d(out) written to ``d_out``."""
        xp = self.xp
        if self.likelihood == "bernoulli":
            # -log p(x | a) = softplus(a) - x a; d/da = sigmoid(a) - x.
            # One tanh gives both: sigmoid(a) = (1 + tanh(a/2)) / 2.
            xp.multiply(out, 0.5, out=d_out)
            xp.tanh(d_out, out=d_out)
            rec = softplus_sum(xp, out, d_out, tmp) - xp.vdot(X, out)
            d_out *= 0.5
            d_out += 0.5
            d_out -= X
            return rec
        # Gaussian: -log p(x | m) = 1/2 sum_j (log 2 pi + s_j + (x_j - m_j)^2 e^{-s_j}).
        s = self.decoder_log_var()
        inv_var = xp.exp(-s)
        xp.subtract(out, X, out=d_out)  # m - x
        xp.multiply(d_out, d_out, out=tmp)
        sq = tmp.sum(axis=0)  # sum_n (x_nj - m_nj)^2, shape (d,)
        n = X.shape[0]
        rec = 0.5 * (n * (LOG_2PI * s.size + s.sum()) + xp.vdot(sq, inv_var))
        d_out *= inv_var  # d/dm = (m - x) / var
        # d/ds_j = 1/2 (n - sum_n (x_nj - m_nj)^2 e^{-s_j}), zero beyond the clip.
        g = self.g_log_var_x
        xp.multiply(sq, inv_var, out=g)
        xp.subtract(n, g, out=g)
        g *= 0.5
        g *= xp.abs(s) < LOGVAR_BOUND
        return rec

    # ------------------------------------------------------------ evaluation
    def log_px(self, X: Any, out: Any) -> Any:
        """log p(x_n | z_n) per row, float64, shape (n,) (no gradient)."""
        xp = self.xp
        f64 = xp.float64
        if self.likelihood == "bernoulli":
            # -(softplus(a) - x a), softplus(a) = max(a, 0) + log1p(e^{-|a|}).
            sp = xp.maximum(out, 0) + xp.log1p(xp.exp(-xp.abs(out)))
            return xp.sum(X * out, axis=1, dtype=f64) - xp.sum(sp, axis=1, dtype=f64)
        s = self.decoder_log_var()
        r = (X - out) ** 2 * xp.exp(-s)
        return -0.5 * (xp.sum(r, axis=1, dtype=f64) + float(xp.sum(s, dtype=f64)) + LOG_2PI * s.size)

    def decoder_mean(self, out: Any) -> Any:
        """E[x | z] from the decoder's output: sigmoid(logits) or the mean."""
        if self.likelihood == "bernoulli":
            return sigmoid(self.xp, out, self.xp.empty_like(out))
        return out.copy()
