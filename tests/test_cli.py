"""The ``fit`` command: every model, every input format, and the errors a user can make."""

import json
import subprocess
import sys

import numpy as np
import pytest

from varbayes.__main__ import main
from varbayes._cli import load_data


@pytest.fixture
def blobs():
    rng = np.random.default_rng(0)
    return np.concatenate([rng.normal(size=(60, 2)) + c for c in ([0, 0], [6, 6], [0, 7])])


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _assert_one_line_error(code, err, status=2, contains=""):
    assert code == status
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("varbayes: error: ")
    assert contains in lines[0]
    assert "Traceback" not in err


# ----------------------------------------------------------------- success
@pytest.mark.parametrize("header", [True, False])
def test_gmm_from_csv_writes_summary_labels_and_plot(tmp_path, capsys, blobs, header):
    data = tmp_path / "blobs.csv"
    np.savetxt(data, blobs, delimiter=",", header="x,y" if header else "", comments="")
    out = tmp_path / "out"
    code, stdout, _ = _run(capsys, "fit", "gmm", data, "--n-components", 3, "--covariance-type", "full",
                           "--random-state", 0, "-o", out)
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "gmm" and summary["estimator"] == "varbayes.GaussianMixture"
    assert summary["data"]["n_samples"] == 180 and summary["data"]["n_features"] == 2
    assert summary["data"]["feature_names"] == (["x", "y"] if header else None)
    assert summary["converged"] is True and summary["n_iter"] >= 1
    elbo = summary["elbo"]
    assert len(elbo["values"]) == len(elbo["steps"]) and elbo["steps"][:2] == ["E", "M"]
    assert elbo["monotone_guaranteed"] and elbo["is_monotone"]
    # The bound of the returned parameters is the last E-step record.
    assert summary["lower_bound"] == pytest.approx(elbo["values"][-1])
    params = summary["parameters"]
    assert np.isclose(sum(params["weights_"]), 1.0)
    assert np.array(params["means_"]).shape == (3, 2)
    assert np.array(params["covariances_"]).shape == (3, 2, 2)
    labels = np.loadtxt(out / "labels.csv", skiprows=1, dtype=int)
    assert labels.shape == (180,) and set(labels) == {0, 1, 2}
    assert (out / "labels.csv").read_text().startswith("label\n")
    assert (out / "elbo.png").stat().st_size > 1000
    assert "summary.json" in stdout and "converged" in stdout


def test_bgmm_from_npz_prunes_and_reports_effective_components(tmp_path, capsys, blobs):
    data = tmp_path / "blobs.npz"
    np.savez(data, X=blobs, y=np.arange(3))
    out = tmp_path / "out"
    code, _, _ = _run(capsys, "fit", "bgmm", data, "--key", "X", "--n-components", 6,
                      "--weight-concentration-prior", 1e-3, "--max-iter", 300, "--random-state", 0,
                      "--weight-concentration-prior-type", "dirichlet_distribution", "-o", out, "--no-plot", "-q")
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["estimator_params"]["weight_concentration_prior"] == 1e-3
    assert summary["estimator_params"]["weight_concentration_prior_type"] == "dirichlet_distribution"
    assert summary["parameters"]["n_effective_components_"] == 3
    assert len(summary["parameters"]["expected_counts_"]) == 6
    assert summary["elbo"]["is_monotone"]
    assert not (out / "elbo.png").exists()
    assert np.loadtxt(out / "labels.csv", skiprows=1).shape == (180,)


def test_npz_with_one_array_needs_no_key(tmp_path, blobs):
    np.savez(tmp_path / "one.npz", anything=blobs)
    X, names = load_data(tmp_path / "one.npz")
    np.testing.assert_array_equal(X, blobs)
    assert names is None


def test_vae_from_npy_writes_latents(tmp_path, capsys):
    rng = np.random.default_rng(1)
    X = (rng.random((120, 8)) < 0.3).astype(float)
    np.save(tmp_path / "bits.npy", X)
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "fit", "vae", tmp_path / "bits.npy", "--n-components", 3,
                             "--hidden-layer-sizes", "16,8", "--likelihood", "bernoulli", "--max-iter", 3,
                             "--batch-size", 32, "--learning-rate", 1e-2, "--random-state", 0, "-o", out, "-q")
    assert code == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_iter"] == 3 and summary["converged"] is False  # 3 epochs: stopped by max_iter
    assert "not converged" in err and "warning" in err
    assert summary["elbo"]["monotone_guaranteed"] is False and summary["elbo"]["is_monotone"] is None
    assert set(summary["elbo"]["terms"]) >= {"reconstruction", "kl"}
    shapes = [np.array(w).shape for w in summary["parameters"]["encoder_coefs_"]]
    assert shapes == [(8, 16), (16, 8), (8, 6)]
    assert summary["parameters"]["decoder_log_var_"] is None
    latents = np.loadtxt(out / "latents.csv", delimiter=",", skiprows=1)
    assert latents.shape == (120, 3)
    assert (out / "latents.csv").read_text().startswith("vae0,vae1,vae2\n")
    assert (out / "elbo.png").exists()


def test_verbose_shows_progress_on_stderr_only(tmp_path, capsys, blobs):
    np.save(tmp_path / "b.npy", blobs)
    code, stdout, err = _run(capsys, "fit", "gmm", tmp_path / "b.npy", "--n-components", 3, "--random-state", 0,
                             "-o", tmp_path / "out", "--no-plot", "--verbose")
    assert code == 0
    assert "fitting gmm to 180 x 2" in err and "Initialization" in err
    assert "Initialization" not in stdout


def test_csv_header_and_shapes(tmp_path):
    (tmp_path / "h.csv").write_text("a, b\n1, 2\n\n3, 4.5\n")
    X, names = load_data(tmp_path / "h.csv")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4.5]])
    assert names == ["a", "b"]
    np.save(tmp_path / "one.npy", np.arange(4.0))
    assert load_data(tmp_path / "one.npy")[0].shape == (4, 1)
    np.save(tmp_path / "img.npy", np.zeros((5, 3, 3)))
    assert load_data(tmp_path / "img.npy")[0].shape == (5, 9)


@pytest.mark.parametrize("argv", [["--help"], ["fit", "--help"], ["fit", "gmm", "--help"],
                                  ["fit", "bgmm", "--help"], ["fit", "vae", "--help"], ["demo", "--help"]])
def test_help_everywhere(capsys, argv):
    code, stdout, _ = _run(capsys, *argv)
    assert code == 0 and stdout.startswith("usage: varbayes")


def test_help_lists_the_main_options(capsys):
    _, bgmm, _ = _run(capsys, "fit", "bgmm", "--help")
    for flag in ("--n-components", "--covariance-type", "--weight-concentration-prior-type",
                 "--weight-concentration-prior", "--max-iter", "--tol", "--random-state", "--output-dir"):
        assert flag in bgmm
    _, vae, _ = _run(capsys, "fit", "vae", "--help")
    for flag in ("--n-components", "--hidden-layer-sizes", "--likelihood", "--max-iter",
                 "--batch-size", "--learning-rate", "--random-state"):
        assert flag in vae


# ----------------------------------------------------------------- errors
def _write(tmp_path, name, content):
    path = tmp_path / name
    if isinstance(content, np.ndarray):
        np.save(path, content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.mark.parametrize(
    "name, content, extra, contains",
    [
        ("missing.csv", None, [], "no such file"),
        ("words.csv", "a,b\n1,2\n3,x\n", [], "line 3, column 2: 'x' is not a number"),
        ("ragged.csv", "1,2\n3\n", [], "line 2"),
        ("empty.csv", "", [], "holds no data"),
        ("header_only.csv", "a,b\n", [], "no data"),
        ("nan.csv", "1,2\nnan,3\n", [], "line 2, column 1: missing value ('nan')"),
        ("inf.csv", "1,2\n3,-inf\n", [], "line 2, column 2: infinite value ('-inf')"),
        ("nan.npy", np.array([[1.0, 2.0], [np.nan, 3.0]]), [], "missing value (NaN) at row 2, column 1"),
        ("garbage.npy", b"not numpy at all", [], "not a NumPy .npy file"),
        ("garbage.npz", b"PK", [], "not a NumPy .npz file"),
        ("data.dat", "1,2\n", [], "must end in .csv, .tsv, .txt, .npy, .npz or .parquet"),
        ("ok.csv", "a,b\n1,2\n3,4\n", ["--usecols", "a,c"], "no column 'c' (its columns are 'a', 'b'"),
        ("ok.csv", "1,2\n3,4\n", ["--usecols", "3"], "no column '3' (it has no header row; or give column numbers 1 to 2)"),
        ("ok.csv", "1,2\n3,4\n", ["--drop", "1,2"], "--drop leaves no column"),
        ("ok.npy", np.ones((3, 2)), ["--delimiter", ";"], "apply only to text (CSV) files"),
        ("ok.csv", "1,2\n3,4\n", ["--delimiter", "::"], "--delimiter must be one character"),
        ("ok.csv", "1,2\n3,4\n", ["--key", "X"], "--key applies only to .npz"),
    ],
)
def test_bad_files_give_one_line_and_status_2(tmp_path, capsys, name, content, extra, contains):
    path = tmp_path / name if content is None else _write(tmp_path, name, content)
    code, _, err = _run(capsys, "fit", "gmm", path, "-o", tmp_path / "out", *extra)
    _assert_one_line_error(code, err, contains=contains)


def test_npz_arrays_must_be_chosen_and_numeric(tmp_path, capsys):
    np.savez(tmp_path / "two.npz", a=np.ones((4, 2)), b=np.ones(4))
    code, _, err = _run(capsys, "fit", "gmm", tmp_path / "two.npz")
    _assert_one_line_error(code, err, contains="choose one with --key")
    code, _, err = _run(capsys, "fit", "gmm", tmp_path / "two.npz", "--key", "c")
    _assert_one_line_error(code, err, contains="no array 'c'")
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    code, _, err = _run(capsys, "fit", "gmm", tmp_path / "text.npy")
    _assert_one_line_error(code, err, contains="not numbers")
    np.save(tmp_path / "scalar.npy", np.array(3.0))
    code, _, err = _run(capsys, "fit", "gmm", tmp_path / "scalar.npy")
    _assert_one_line_error(code, err, contains="scalar.npy' holds a single number")


@pytest.mark.parametrize(
    "argv, contains",
    [
        (["fit", "gmm", "{data}", "--n-components", "0"], "--n-components: must be a positive integer"),
        (["fit", "gmm", "{data}", "--n-components", "three"], "--n-components"),
        (["fit", "gmm", "{data}", "--covariance-type", "round"], "invalid choice: 'round'"),
        (["fit", "gmm", "{data}", "--tol", "-1"], "--tol"),
        (["fit", "gmm", "{data}", "--bogus"], "unrecognized argument: '--bogus' (see"),
        (["fit", "gmm", "{data}", "--random-state", "-5"], "--random-state: must be an integer from 0"),
        (["fit", "gmm", "{data}", "--n-components", "50"], "n_components"),
        (["fit", "bgmm", "{data}", "--degrees-of-freedom-prior", "0.5"], "(--degrees-of-freedom-prior)"),
        (["fit", "vae", "{data}", "--hidden-layer-sizes", "8,x"], "--hidden-layer-sizes"),
        (["fit", "vae", "{data}", "--likelihood", "bernoulli"], "[0, 1]"),
        (["fit", "lda", "{data}"], "invalid choice: 'lda'"),
        (["fit"], "MODEL"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_options_give_one_line_and_status_2(tmp_path, capsys, argv, contains):
    data = tmp_path / "d.csv"
    np.savetxt(data, np.random.default_rng(0).normal(size=(20, 2)) * 3, delimiter=",")
    code, _, err = _run(capsys, *[a.format(data=data) for a in argv], *(["-o", str(tmp_path / "o")] if len(argv) > 2 else []))
    _assert_one_line_error(code, err, contains=contains)


def test_a_diverging_fit_exits_with_status_1(tmp_path, capsys):
    np.save(tmp_path / "d.npy", np.random.default_rng(0).normal(size=(64, 4)) * 100)
    code, _, err = _run(capsys, "fit", "vae", tmp_path / "d.npy", "--learning-rate", "1e6", "--max-iter", "3",
                        "--random-state", "0", "-o", tmp_path / "o")
    _assert_one_line_error(code, err, status=1, contains="learning_rate")


@pytest.mark.parametrize("rate", ["50", "1.0"])
def test_a_collapsing_elbo_is_not_reported_as_converged(tmp_path, capsys, rate):
    # Used to print "ELBO -5.05e+06 ... (converged)", exit 0 and write converged: true.
    np.save(tmp_path / "d.npy", np.random.default_rng(0).normal(size=(100, 3)))
    code, _, err = _run(capsys, "fit", "vae", tmp_path / "d.npy", "--learning-rate", rate, "--max-iter", "30",
                        "--random-state", "0", "-o", tmp_path / "o")
    _assert_one_line_error(code, err, status=1, contains="learning_rate")
    assert not (tmp_path / "o" / "summary.json").exists()


def test_console_behaviour_in_a_subprocess(tmp_path):
    """The real process: one line on stderr, status 2, no traceback; then a fit that works."""
    bad = subprocess.run([sys.executable, "-m", "varbayes", "fit", "gmm", str(tmp_path / "nope.csv")],
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert bad.stderr.strip() == f"varbayes: error: no such file: {str(tmp_path / 'nope.csv')!r}"
    np.savetxt(tmp_path / "d.csv", np.random.default_rng(0).normal(size=(40, 2)), delimiter=",")
    good = subprocess.run([sys.executable, "-m", "varbayes", "fit", "gmm", str(tmp_path / "d.csv"), "--n-components", "2",
                           "--random-state", "0", "-o", str(tmp_path / "out"), "--no-plot"],
                          capture_output=True, text=True)
    assert good.returncode == 0, good.stderr
    assert "Traceback" not in good.stderr
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["data"]["n_samples"] == 40


def test_gpu_device_without_cupy_is_one_line(tmp_path, capsys):
    try:
        import cupy  # noqa: F401

        pytest.skip("CuPy is installed: device='gpu' may work here")
    except ImportError:
        pass
    np.save(tmp_path / "d.npy", np.random.default_rng(0).normal(size=(20, 2)))
    code, _, err = _run(capsys, "fit", "gmm", tmp_path / "d.npy", "--device", "gpu", "-o", tmp_path / "o")
    _assert_one_line_error(code, err)


# ----------------------------------------------------------------- real files
def _summary(out):
    return json.loads((out / "summary.json").read_text())


@pytest.mark.parametrize("name, sep, extra", [
    ("semi.csv", ";", []),               # sniffed
    ("tabs.tsv", "\t", []),              # sniffed
    ("spaces.txt", "   ", []),           # runs of spaces: sniffed as whitespace
    ("pipes.csv", "|", ["--delimiter", "|"]),
    ("tabs2.csv", "\t", ["--delimiter", "tab"]),
])
def test_delimiters_are_sniffed_or_given(tmp_path, capsys, blobs, name, sep, extra):
    lines = [sep.join(["x", "y"])] + [sep.join(f"{v:.6f}" for v in row) for row in blobs]
    path = _write(tmp_path, name, "\n".join(lines) + "\n")
    code, _, err = _run(capsys, "fit", "gmm", path, "--n-components", 3, "-o", tmp_path / "out", "--no-plot", *extra)
    assert code == 0, err
    summary = _summary(tmp_path / "out")
    assert summary["data"]["feature_names"] == ["x", "y"] and summary["data"]["n_samples"] == 180


def test_a_pandas_index_column_is_dropped_with_a_note(tmp_path, capsys, blobs):
    pd = pytest.importorskip("pandas")
    path = tmp_path / "frame.csv"
    pd.DataFrame(blobs, columns=["x", "y"]).to_csv(path)  # writes ',x,y' and the index 0..179
    code, _, err = _run(capsys, "fit", "gmm", path, "--n-components", 3, "-o", tmp_path / "out", "--no-plot")
    assert code == 0
    assert "dropped column 1" in err and "pandas index" in err
    summary = _summary(tmp_path / "out")
    assert summary["data"]["feature_names"] == ["x", "y"] and summary["data"]["n_features"] == 2
    # --usecols chooses for itself: nothing is dropped behind the user's back.
    code, _, err = _run(capsys, "fit", "gmm", path, "--usecols", "1,x", "-o", tmp_path / "out2", "--no-plot", "-q")
    assert code == 0 and err == ""
    assert _summary(tmp_path / "out2")["data"]["feature_names"] == ["", "x"]


@pytest.mark.parametrize("cell", ["", "NA", "nan", "N/A", "null"])
def test_every_spelling_of_a_missing_value_gets_the_same_message(tmp_path, capsys, cell):
    path = _write(tmp_path, "gaps.csv", f"a,b,c\n1,2,3\n4,{cell},6\n7,8,9\n")
    code, _, err = _run(capsys, "fit", "gmm", path, "-o", tmp_path / "out")
    _assert_one_line_error(code, err, contains=f"line 3, column 2: missing value ({cell!r}); the models fit complete rows")
    assert "VBPCAImputer" in err


def test_usecols_and_drop_by_name_or_number(tmp_path, capsys, blobs):
    data = np.column_stack([np.arange(180.0), blobs, np.ones(180)])
    path = tmp_path / "wide.csv"
    np.savetxt(path, data, delimiter=",", header="id,x,y,const", comments="")
    for extra, names in ([("--usecols", "x,y"), ["x", "y"]], [("--usecols", "3,2"), ["y", "x"]],
                         [("--drop", "id,4"), ["x", "y"]]):
        out = tmp_path / f"out{extra[1]}"
        code, _, err = _run(capsys, "fit", "gmm", path, *extra, "-o", out, "--no-plot", "-q")
        assert code == 0, err
        assert _summary(out)["data"]["feature_names"] == names


def test_header_can_be_forced_either_way(tmp_path, capsys):
    path = _write(tmp_path, "nums.csv", "10,20\n1,2\n3,4\n5,6\n")
    X, names = load_data(path)
    assert names is None and X.shape == (4, 2)
    X, names = load_data(path, header=True)
    assert names == ["10", "20"] and X.shape == (3, 2)
    path = _write(tmp_path, "words.csv", "a,b\n1,2\n")
    code, _, err = _run(capsys, "fit", "gmm", path, "--no-header", "-o", tmp_path / "out")
    _assert_one_line_error(code, err, contains="line 1, column 1: 'a' is not a number")


def test_quiet_means_quiet(tmp_path, capsys, blobs):
    path = tmp_path / "blobs.csv"
    np.savetxt(path, blobs, delimiter=",")
    code, stdout, err = _run(capsys, "fit", "gmm", path, "-o", tmp_path / "out", "-q", "--no-plot")
    assert code == 0 and stdout == "" and err == ""
    assert (tmp_path / "out" / "summary.json").exists()


def test_a_misspelt_option_points_to_the_subcommand_and_the_right_spelling(capsys, tmp_path):
    code, _, err = _run(capsys, "fit", "gmm", tmp_path / "x.csv", "--n-compnents", 3)
    _assert_one_line_error(code, err, contains="'--n-compnents' (did you mean '--n-components'?)")
    assert "(see 'varbayes fit gmm --help')" in err


def test_each_subcommand_describes_its_own_options(capsys):
    _, gmm, _ = _run(capsys, "fit", "gmm", "--help")
    _, vae, _ = _run(capsys, "fit", "vae", "--help")
    assert "number of mixture components" in gmm and "latent" not in gmm and "epochs" not in gmm
    assert "number of latent dimensions" in vae and "mixture" not in vae and "maximum number of epochs" in vae
    for text in (gmm, vae):
        assert "--delimiter" in text and "--usecols" in text and "--no-header" in text


def test_a_column_of_words_can_be_dropped_or_left_out(tmp_path, capsys):
    rows = ["sepal,petal,species"] + [f"{5 + 0.1 * i:.1f},{1 + 0.2 * (i % 7):.1f},{'setosa' if i % 2 else 'virginica'}"
                                      for i in range(30)]
    path = _write(tmp_path, "iris.csv", "\n".join(rows) + "\n")
    for extra in (["--drop", "species"], ["--usecols", "sepal,petal"], ["--drop", "3"]):
        out = tmp_path / "out"
        code, _, err = _run(capsys, "fit", "gmm", path, *extra, "-o", out, "--no-plot", "-q")
        assert code == 0, err
        assert _summary(out)["data"]["feature_names"] == ["sepal", "petal"]
    code, _, err = _run(capsys, "fit", "gmm", path, "-o", tmp_path / "out")
    _assert_one_line_error(code, err, contains="line 2, column 3: 'virginica' is not a number")


def test_old_mac_line_ends_and_odd_column_numbers(tmp_path, capsys):
    path = tmp_path / "cr.csv"
    path.write_bytes(b"a,b\r1,2\r3,4.5\r5,6\r")
    X, names = load_data(path)
    assert names == ["a", "b"] and X.tolist() == [[1, 2], [3, 4.5], [5, 6]]
    code, _, err = _run(capsys, "fit", "gmm", path, "--usecols", "\u00b2", "-o", tmp_path / "out")
    _assert_one_line_error(code, err, contains="no column '\u00b2'")


def test_parquet_files_are_read_by_column_name(tmp_path, capsys, blobs):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"x": blobs[:, 0], "y": blobs[:, 1], "species": ["a", "b", "c"] * 60},
                         index=[f"r{i}" for i in range(180)])  # a named index: stored as a column
    path = tmp_path / "blobs.parquet"
    frame.to_parquet(path)
    code, _, err = _run(capsys, "fit", "gmm", path, "-o", tmp_path / "out")
    _assert_one_line_error(code, err, contains="column 'species' is not numeric")
    assert "leave it out with --drop 'species'" in err
    code, _, err = _run(capsys, "fit", "gmm", path, "--drop", "species", "--n-components", 3, "-o", tmp_path / "out",
                        "--no-plot")
    assert code == 0, err
    assert "dropped the pandas index" in err
    assert _summary(tmp_path / "out")["data"]["feature_names"] == ["x", "y"]
    X, names = load_data(path, usecols=["y"])
    assert names == ["y"] and np.array_equal(X[:, 0], blobs[:, 1])
    frame.loc["r5", "y"] = np.nan
    frame.to_parquet(path)
    code, _, err = _run(capsys, "fit", "gmm", path, "--usecols", "x,y", "-o", tmp_path / "out")
    _assert_one_line_error(code, err, contains="missing value at row 6, column 'y'")
    _write(tmp_path, "bad.parquet", b"not parquet")
    code, _, err = _run(capsys, "fit", "gmm", tmp_path / "bad.parquet", "-o", tmp_path / "out")
    _assert_one_line_error(code, err, contains="as Parquet")
