"""Matrix factorisations by variational Bayes: VB PCA with ARD and missing values."""

from ._vbpca import VBPCA, VBPCAImputer

__all__ = ["VBPCA", "VBPCAImputer"]
