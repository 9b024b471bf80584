"""Adam (Kingma & Ba 2015, Algorithm 1) on one flat parameter vector.

With all parameters in one contiguous vector, a step is a dozen whole-vector
in-place operations whatever the number of layers: no Python loop over
parameters and no temporaries beyond one scratch vector.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["Adam"]


class Adam:
    """The Adam update, in place, on the device.

    With bias corrections folded into the step size (Kingma & Ba 2015, end of
    section 2),

        m <- b1 m + (1 - b1) g
        v <- b2 v + (1 - b2) g^2
        theta <- theta - lr_t m / (sqrt(v) + eps_t),
        lr_t = lr sqrt(1 - b2^t) / (1 - b1^t),  eps_t = eps sqrt(1 - b2^t),

    which is the same update as PyTorch's ``torch.optim.Adam``.

    Parameters
    ----------
    xp : module
        Array namespace.
    size : int
        Number of parameters.
    dtype : dtype
        Precision of the moments (that of the parameters).
    learning_rate, beta_1, beta_2, epsilon : float
        Adam's step size, decay rates of the moment estimates and the
        denominator's stabiliser.
    grad_scale : float, default=1.0
        The gradients given to :meth:`step` are those of ``grad_scale`` times
        the loss Adam should see (the fit passes the gradient of the *summed*
        negative ELBO of a batch and ``grad_scale = batch_size``, so that Adam
        sees the per-sample mean).  Adam is invariant to a constant scale of
        the gradient except through epsilon, so the step uses
        ``epsilon * grad_scale`` instead of rescaling the gradient: the same
        update, one pass fewer.  The scale must be the same at every step.
    state : dict, optional
        ``{'m', 'v', 't'}`` from :meth:`state` to continue a previous run.
    """

    def __init__(
        self,
        xp: Any,
        size: int,
        dtype: Any,
        learning_rate: float,
        beta_1: float,
        beta_2: float,
        epsilon: float,
        grad_scale: float = 1.0,
        state: dict | None = None,
    ) -> None:
        self.xp = xp
        self.learning_rate = float(learning_rate)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.grad_scale = float(grad_scale)
        if state is None:
            self.m = xp.zeros(size, dtype=dtype)
            self.v = xp.zeros(size, dtype=dtype)
            self.t = 0
        else:
            # Stored at unit scale, so a later run may use another batch size.
            self.m = xp.asarray(state["m"] * self.grad_scale, dtype=dtype)
            self.v = xp.asarray(state["v"] * self.grad_scale**2, dtype=dtype)
            self.t = int(state["t"])
        self._tmp = xp.empty(size, dtype=dtype)

    def step(self, theta: Any, grad: Any) -> None:
        """Update ``theta`` in place from ``grad`` (left unchanged).

        Parameters
        ----------
        theta, grad : array of shape (size,)
            Parameters and the gradient (times ``grad_scale``) of the loss
            to *minimise*.
        """
        xp = self.xp
        self.t += 1
        b1, b2 = self.beta_1, self.beta_2
        bc2 = math.sqrt(1.0 - b2**self.t)
        lr_t = self.learning_rate * bc2 / (1.0 - b1**self.t)
        eps_t = self.epsilon * self.grad_scale * bc2
        m, v, tmp = self.m, self.v, self._tmp
        # m <- g + b1 (m - g) = b1 m + (1 - b1) g, without a temporary.
        m -= grad
        m *= b1
        m += grad
        # v <- g^2 + b2 (v - g^2).
        xp.multiply(grad, grad, out=tmp)
        v -= tmp
        v *= b2
        v += tmp
        xp.sqrt(v, out=tmp)
        tmp += eps_t
        xp.divide(m, tmp, out=tmp)
        tmp *= lr_t
        theta -= tmp

    def state(self, to_host: Any) -> dict:
        """The moments (at unit gradient scale) and step count, on the host."""
        s = self.grad_scale
        return {"m": to_host(self.m) / s, "v": to_host(self.v) / (s * s), "t": self.t}
