"""The command line's demo: the README's main job."""

import subprocess
import sys

from varbayes.__main__ import demo, main


def test_demo_fits_every_estimator_and_writes_the_plot(tmp_path, capsys):
    out = tmp_path / "elbo.png"
    rows = demo(output=str(out), seed=0)
    assert out.exists() and out.stat().st_size > 10_000
    assert {r["model"].split(" ")[0] for r in rows} == {"GaussianMixture", "BayesianGaussianMixture", "VAE", "VBPCA"}
    for r in rows:
        assert r["n_iter"] >= 1 and r["seconds"] > 0
        # EM and CAVI guarantee ascent; the VAE is stochastic.
        assert r["monotone"] == ("n/a (stochastic)" if r["model"].startswith("VAE") else "yes")
    printed = capsys.readouterr().out
    assert "final ELBO" in printed and "monotone" in printed
    assert "VBPCA filled the missing pixels with RMSE" in printed


def test_main_entry_point_runs_demo_without_plot(capsys):
    assert main(["demo", "--no-plot"]) == 0
    assert "GaussianMixture" in capsys.readouterr().out


def test_module_help_exits_cleanly():
    result = subprocess.run([sys.executable, "-m", "varbayes", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "demo" in result.stdout
