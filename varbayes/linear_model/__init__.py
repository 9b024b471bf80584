"""Conjugate linear models fitted by variational Bayes."""

from ._vb_linear import VBLinearRegression

__all__ = ["VBLinearRegression"]
