"""The command line's demo: the README's main job."""

import varbayes.__main__ as entry
from varbayes.__main__ import main


def test_the_demo_command_fits_every_estimator_and_writes_the_plot(tmp_path, capsys):
    # The README's main job, through the command line's entry point.
    out = tmp_path / "elbo.png"
    assert main(["demo", "--output", str(out), "--seed", "0"]) == 0
    assert out.exists() and out.stat().st_size > 10_000
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    header = next(i for i, line in enumerate(lines) if "final ELBO" in line)
    assert "monotone" in lines[header]
    rows = [line for line in lines[header + 1:] if not line.startswith(("VBPCA filled", "ELBO curves"))]
    assert {row.split(" ")[0] for row in rows} == {"GaussianMixture", "BayesianGaussianMixture", "VAE", "VBPCA"}
    for row in rows:
        # EM and CAVI guarantee ascent; the VAE is stochastic.
        assert row.endswith("n/a (stochastic)" if row.startswith("VAE") else "  yes"), row
        iterations, seconds = row.rsplit("  ", 1)[0].split()[-2:]
        assert int(iterations) >= 1 and float(seconds) >= 0
    assert "VBPCA filled the missing pixels with RMSE" in printed
    assert f"ELBO curves written to {out}" in printed


def test_no_plot_reaches_the_demo(monkeypatch, capsys):
    # The demo itself runs in the test above (and `python -m varbayes` in a
    # real process in tests/test_cli.py); here only what the options pass it.
    calls = []
    monkeypatch.setattr(entry, "demo", lambda **kw: calls.append(kw) or [])
    assert main(["demo", "--no-plot", "--seed", "3"]) == 0
    assert calls == [{"output": "varbayes_demo.png", "seed": 3, "plot": False}]
    capsys.readouterr()
    assert main(["--help"]) == 0
    assert "demo" in capsys.readouterr().out  # the program's help lists the command
