"""``varbayes fit --scheduler``: .npy files fitted on a real LocalCluster."""

import json

import numpy as np
import pytest

from varbayes import GaussianMixture
from varbayes.__main__ import main

pytest.importorskip("dask.array")
pytest.importorskip("distributed")


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _blocks(folder, sizes=(150, 100, 130), width=2):
    rng = np.random.default_rng(0)
    parts = []
    for i, m in enumerate(sizes):
        part = rng.normal(size=(m, width)) + 6.0 * rng.integers(3, size=(m, 1))
        np.save(folder / f"part-{i:02d}.npy", part)
        parts.append(part)
    return np.concatenate(parts)


def test_a_glob_of_npy_files_is_fitted_on_the_cluster(tmp_path, capsys, dask_cluster):
    X = _blocks(tmp_path)
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "fit", "gmm", tmp_path / "part-*.npy", "--scheduler", dask_cluster.scheduler.address,
                             "--n-components", 3, "--init-params", "random_from_data", "--random-state", 0, "-o", out, "--no-plot")
    assert code == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"]["n_samples"] == len(X) and summary["data"]["n_features"] == 2
    ref = GaussianMixture(3, init_params="random_from_data", random_state=0).fit(X)
    np.testing.assert_allclose(summary["parameters"]["means_"], ref.means_, rtol=1e-10)
    labels = np.loadtxt(out / "labels.csv", skiprows=1)
    np.testing.assert_array_equal(labels, ref.predict(X))


def test_cluster_problems_are_one_line(tmp_path, capsys):
    _blocks(tmp_path)
    code, _, err = _run(capsys, "fit", "gmm", tmp_path / "nothing-*.npy", "--scheduler", "tcp://127.0.0.1:1")
    assert code == 2 and err.count("\n") == 1 and "no .npy file matches" in err
    code, _, err = _run(capsys, "fit", "bgmm", tmp_path / "part-*.npy", "--scheduler", "tcp://127.0.0.1:1")
    assert code == 2 and err.count("\n") == 1 and "cannot connect to the Dask scheduler" in err
