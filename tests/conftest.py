"""Shared test configuration.

* GPU tests run only where CuPy sees a CUDA device.
* Hypothesis: the 'ci' profile (chosen when the environment variable CI is
  set, as ``.ci/run`` does, or with HYPOTHESIS_PROFILE=ci) is derandomized and
  keeps no example database, so every CI run tries the same examples; local
  runs ('dev', the default) explore new ones each time.
"""

import os

import matplotlib
import pytest
from hypothesis import settings

from varbayes._backend import cuda_available

matplotlib.use("Agg")

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_collection_modifyitems(config, items):
    if cuda_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
