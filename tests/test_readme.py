"""The README's example runs and prints what its comments say."""

import contextlib
import io
import pathlib
import re

import matplotlib

matplotlib.use("Agg")

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_runs_and_prints_what_it_claims():
    text = README.read_text()
    code = re.search(r"## Example\s+```python\n(.*?)```", text, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    printed = out.getvalue().splitlines()
    claimed = [line.split("# ")[1].split(":")[0].strip() for line in code.splitlines() if line.startswith("print(")]
    assert printed == claimed
