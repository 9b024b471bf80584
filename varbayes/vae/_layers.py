"""Dense layers and activations with hand-written backpropagation.

Everything works in place on preallocated buffers, in the dtype of the
parameters, through the backend's array namespace ``xp`` (NumPy or CuPy), so
the hot loop of a fit allocates nothing large.  Each activation's derivative
sits beside its forward pass and is written in terms of the activation's
*output* ``h = f(a)``, which is what the forward pass keeps (the approach of
scikit-learn's ``sklearn/neural_network/_base.py``).

Parameters live in one flat vector (:class:`ParamVector`); layers hold views
into it and into the gradient vector of the same layout, so the optimiser
updates every parameter with a handful of whole-vector operations.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

__all__ = ["ACTIVATIONS", "DERIVATIVES", "MLP", "ParamVector", "sigmoid", "softplus_sum"]


# ----------------------------------------------------------------- activations
# Forward: overwrite ``a`` (pre-activations) with f(a).
def _identity(xp: Any, a: Any) -> None:
    pass


def _relu(xp: Any, a: Any) -> None:
    xp.maximum(a, 0, out=a)


def _tanh(xp: Any, a: Any) -> None:
    xp.tanh(a, out=a)


def _softplus(xp: Any, a: Any, tmp: Any = None) -> None:
    # log(1 + e^a) = max(a, 0) + log(1 + e^{-|a|}): never exp of a positive
    # number, so no overflow.  log(1 + u) with u in (0, 1] is accurate to a
    # rounding error of 1 in absolute terms, which is what an activation needs.
    t = xp.abs(a) if tmp is None else xp.abs(a, out=tmp)
    xp.negative(t, out=t)
    xp.exp(t, out=t)
    t += 1
    xp.log(t, out=t)
    xp.maximum(a, 0, out=a)
    a += t


def _logistic(xp: Any, a: Any) -> None:
    sigmoid(xp, a, a)


# Backward: multiply ``delta`` (dL/dh) in place by f'(a), written with h = f(a).
def _identity_derivative(xp: Any, h: Any, delta: Any) -> None:
    pass


def _relu_derivative(xp: Any, h: Any, delta: Any) -> None:
    delta *= h > 0


def _tanh_derivative(xp: Any, h: Any, delta: Any) -> None:
    # tanh' = 1 - h^2
    delta -= delta * h * h


def _softplus_derivative(xp: Any, h: Any, delta: Any) -> None:
    # softplus'(a) = sigmoid(a) = 1 - e^{-h}, with h = softplus(a) >= 0.
    delta -= delta * xp.exp(-h)


def _logistic_derivative(xp: Any, h: Any, delta: Any) -> None:
    delta *= h * (1 - h)


ACTIVATIONS: dict[str, Callable] = {
    "identity": _identity,
    "relu": _relu,
    "tanh": _tanh,
    "softplus": _softplus,
    "logistic": _logistic,
}

DERIVATIVES: dict[str, Callable] = {
    "identity": _identity_derivative,
    "relu": _relu_derivative,
    "tanh": _tanh_derivative,
    "softplus": _softplus_derivative,
    "logistic": _logistic_derivative,
}


def sigmoid(xp: Any, a: Any, out: Any) -> Any:
    """The logistic function 1 / (1 + e^{-a}), computed as (1 + tanh(a/2)) / 2.

    The tanh form never overflows and is a single vectorised transcendental
    call on both NumPy and CuPy (``out`` may be ``a``).
    """
    xp.multiply(a, 0.5, out=out)
    xp.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def softplus_sum(xp: Any, a: Any, t: Any, tmp: Any) -> Any:
    """sum(log(1 + e^a)) from ``a`` and ``t = tanh(a/2)`` without overflow.

    log(1 + e^a) = max(a, 0) + log(1 + e^{-|a|}) and
    1 + e^{-|a|} = 2 / (1 + |t|), so the sum is
    sum(max(a, 0)) + n log 2 - sum(log(1 + |t|)).  ``tmp`` is scratch of
    ``a``'s shape.  Reuses the tanh of the sigmoid: no extra exp or log1p.
    Returns a 0-d array on the device.
    """
    xp.abs(t, out=tmp)
    tmp += 1
    xp.log(tmp, out=tmp)
    s_log = tmp.sum()
    xp.maximum(a, 0, out=tmp)
    return tmp.sum() - s_log + a.size * math.log(2.0)


# ----------------------------------------------------------------- parameters
class ParamVector:
    """Named parameter arrays stored as views into one flat vector.

    Parameters
    ----------
    xp : module
        Array namespace.
    shapes : sequence of (str, tuple)
        Name and shape of each parameter, in storage order.
    dtype : dtype
        Precision of the parameters and their gradient.

    Attributes
    ----------
    theta, grad : array of shape (size,)
        The flat parameters and the flat gradient (same layout).
    """

    def __init__(self, xp: Any, shapes: Sequence[tuple[str, tuple[int, ...]]], dtype: Any) -> None:
        self.xp = xp
        self.shapes = [(name, tuple(shape)) for name, shape in shapes]
        self.offsets = {}
        start = 0
        for name, shape in self.shapes:
            size = math.prod(shape)
            self.offsets[name] = (start, start + size, shape)
            start += size
        self.size = start
        self.theta = xp.zeros(start, dtype=dtype)
        self.grad = xp.zeros(start, dtype=dtype)

    def view(self, name: str, grad: bool = False) -> Any:
        """The parameter (or its gradient) ``name`` as a C-contiguous view."""
        lo, hi, shape = self.offsets[name]
        return (self.grad if grad else self.theta)[lo:hi].reshape(shape)


# ----------------------------------------------------------------- the MLP
class MLP:
    """A stack of dense layers ``h_{l+1} = f_l(h_l W_l + b_l)``.

    Hidden layers use ``activation``; the last layer is linear (its output is
    a logit, a mean or a log-variance, transformed by the caller).  Forward
    outputs and backward deltas go into buffers allocated once per batch size.

    Parameters
    ----------
    params : ParamVector
        Holds ``{prefix}W{l}`` of shape (sizes[l], sizes[l+1]) and
        ``{prefix}b{l}`` of shape (sizes[l+1],).
    prefix : str
        Name prefix of this network's parameters in ``params``.
    sizes : sequence of int
        Layer widths, input first.
    activation : str
        Key of :data:`ACTIVATIONS` for the hidden layers.
    """

    def __init__(self, params: ParamVector, prefix: str, sizes: Sequence[int], activation: str) -> None:
        self.xp = params.xp
        self.dtype = params.theta.dtype
        self.sizes = list(sizes)
        self.n_layers = len(sizes) - 1
        self.W = [params.view(f"{prefix}W{l}") for l in range(self.n_layers)]
        self.b = [params.view(f"{prefix}b{l}") for l in range(self.n_layers)]
        self.gW = [params.view(f"{prefix}W{l}", grad=True) for l in range(self.n_layers)]
        self.gb = [params.view(f"{prefix}b{l}", grad=True) for l in range(self.n_layers)]
        self.act = ACTIVATIONS[activation]
        self.act_derivative = DERIVATIVES[activation]
        self._buffers: dict[int, tuple[list, list]] = {}
        self._h: list = []

    @staticmethod
    def parameter_shapes(prefix: str, sizes: Sequence[int]) -> list[tuple[str, tuple[int, ...]]]:
        """The (name, shape) of every weight and bias, for :class:`ParamVector`."""
        shapes = []
        for l in range(len(sizes) - 1):
            shapes.append((f"{prefix}W{l}", (sizes[l], sizes[l + 1])))
            shapes.append((f"{prefix}b{l}", (sizes[l + 1],)))
        return shapes

    def _buffers_for(self, n: int) -> tuple[list, list]:
        buf = self._buffers.get(n)
        if buf is None:
            xp = self.xp
            outs = [xp.empty((n, s), dtype=self.dtype) for s in self.sizes[1:]]
            # deltas[l] holds dL/d(pre-activation of the input of layer l);
            # deltas[0] is the gradient with respect to the network's input.
            deltas = [xp.empty((n, s), dtype=self.dtype) for s in self.sizes[:-1]]
            buf = self._buffers[n] = (outs, deltas)
        return buf

    def forward(self, X: Any) -> Any:
        """Return the output (n, sizes[-1]); activations are kept for backward."""
        xp = self.xp
        outs, _ = self._buffers_for(X.shape[0])
        h = X
        self._h = [X]
        for l in range(self.n_layers):
            out = outs[l]
            xp.matmul(h, self.W[l], out=out)
            out += self.b[l]
            if l < self.n_layers - 1:
                self.act(xp, out)
            self._h.append(out)
            h = out
        return h

    def backward(self, delta: Any, input_grad: bool = False) -> Any:
        """Accumulate nothing: write dL/dW, dL/db for the last ``forward``.

        Parameters
        ----------
        delta : array of shape (n, sizes[-1])
            dL/d(output).  Not modified.
        input_grad : bool
            Also return dL/d(input) (needed when the input depends on other
            parameters, as the decoder's input z does).

        Returns
        -------
        array of shape (n, sizes[0]) or None
        """
        xp = self.xp
        _, deltas = self._buffers_for(delta.shape[0])
        for l in range(self.n_layers - 1, -1, -1):
            h_in = self._h[l]
            xp.matmul(h_in.T, delta, out=self.gW[l])
            xp.sum(delta, axis=0, out=self.gb[l])
            if l == 0 and not input_grad:
                return None
            d_in = deltas[l]
            xp.matmul(delta, self.W[l].T, out=d_in)
            if l > 0:
                self.act_derivative(xp, h_in, d_in)
            delta = d_in
        return delta
