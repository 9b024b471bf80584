"""The documentation's sources: gallery examples and the benchmarks include.

The docs build (``python -m sphinx -W --keep-going -b html docs docs/_build/html``)
runs every example; these checks are the cheap part, and the slow test runs
each example script as a plain program.
"""

import ast
import runpy
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))


def test_gallery_has_a_readme_and_examples():
    assert (ROOT / "examples" / "README.rst").exists()
    assert len(EXAMPLES) >= 7


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_example_has_a_titled_docstring_and_uses_the_public_api(path):
    tree = ast.parse(path.read_text())
    doc = ast.get_docstring(tree)
    assert doc, f"{path.name} needs a docstring (the gallery title)"
    title, underline = doc.splitlines()[:2]
    assert set(underline) == {"="} and len(underline) >= len(title)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("varbayes"):
            assert node.module == "varbayes", f"{path.name} imports the private module {node.module}"


def test_api_templates_exist_where_sphinx_looks_for_them():
    # A template name that Sphinx cannot find silently falls back to its
    # default, which lists no methods.
    import re

    api = (ROOT / "docs" / "api.rst").read_text()
    templates = re.findall(r":template: (\S+)", api)
    assert templates
    for name in templates:
        assert (ROOT / "docs" / "_templates" / name).exists(), name
    assert ":members:" in (ROOT / "docs" / "_templates" / "autosummary" / "class.rst").read_text()


def test_benchmarks_page_includes_the_readme_markers():
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for name in ("context", "gmm", "bgmm", "mixture-notes", "scaling", "online", "memmap", "dask", "linear", "pca", "vae"):
        assert f":start-after: <!-- bench-{name}-start -->" in page
        assert f":end-before: <!-- bench-{name}-end -->" in page
        assert f"<!-- bench-{name}-start -->" in readme and f"<!-- bench-{name}-end -->" in readme


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_each_example_runs(path, monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(path.parent)
    runpy.run_path(str(path), run_name="__main__")
    assert plt.get_fignums(), f"{path.name} made no figure"
    plt.close("all")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_getting_started_code_runs():
    """Every code block of the getting-started page, in order, as one program."""
    import re

    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    text = (ROOT / "docs" / "getting_started.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, "getting_started.md", "exec"), namespace)
    assert np.isfinite(namespace["search"].best_score_)
