"""Shared test configuration.

* GPU tests run only where CuPy sees a CUDA device.
* Hypothesis: the 'ci' profile (chosen when the environment variable CI is
  set, as ``.ci/run`` does, or with HYPOTHESIS_PROFILE=ci) is derandomized and
  keeps no example database, so every CI run tries the same examples; local
  runs ('dev', the default) explore new ones each time.
* Dask: ``dask_cluster`` is a real ``dask.distributed.LocalCluster`` of two
  worker processes (one thread each), started once for the session and
  closed at its end; ``scheduler`` runs a test on Dask's threaded scheduler
  and on that cluster.  Without dask and distributed these tests skip.
* Array API: SciPy reads SCIPY_ARRAY_API when it is first imported, and
  scikit-learn's array-API dispatch (and its estimator checks for it) needs
  it set; it is set here, before anything imports SciPy.
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")

import contextlib  # noqa: E402

import matplotlib  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from varbayes._backend import cuda_available  # noqa: E402

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


@pytest.fixture(scope="session")
def dask_cluster():
    """A Client on a LocalCluster of 2 worker processes, closed after the session."""
    pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    client = distributed.Client(cluster, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@pytest.fixture(params=["threads", "cluster"])
def scheduler(request):
    """Run the test on Dask's threaded scheduler, then on the LocalCluster."""
    dask = pytest.importorskip("dask")
    pytest.importorskip("dask.array")
    target = "threads" if request.param == "threads" else request.getfixturevalue("dask_cluster")
    with dask.config.set(scheduler=target):
        yield request.param


@pytest.fixture
def count_graphs():
    """A context manager that lists the size of each graph Dask's local schedulers run inside it."""
    pytest.importorskip("dask")
    from dask.callbacks import Callback

    @contextlib.contextmanager
    def counting():
        counts = []
        with Callback(start=lambda dsk: counts.append(len(dsk))):
            yield counts

    return counting
