"""Shared test configuration: GPU tests run only where CuPy sees a CUDA device."""

import matplotlib
import pytest

from varbayes._backend import cuda_available

matplotlib.use("Agg")


def pytest_collection_modifyitems(config, items):
    if cuda_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
