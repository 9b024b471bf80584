"""Matrix factorisations by variational Bayes: VB PCA with ARD and missing values, and
a VB mixture of probabilistic PCAs as an imputer."""

from ._mixture_imputer import VBMixturePCAImputer
from ._vbpca import VBPCA, VBPCAImputer

__all__ = ["VBMixturePCAImputer", "VBPCA", "VBPCAImputer"]
