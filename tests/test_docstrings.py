"""Every example in a public docstring runs and prints what it shows."""

import doctest
import inspect

import pytest

import varbayes

PUBLIC = [getattr(varbayes, name) for name in varbayes.__all__ if inspect.isclass(getattr(varbayes, name))
          or inspect.isfunction(getattr(varbayes, name))]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("obj", PUBLIC, ids=lambda obj: obj.__name__)
def test_docstring_examples(obj):
    finder = doctest.DocTestFinder(recurse=False)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(obj, obj.__name__, globs={}):
        runner.run(test)
    assert runner.failures == 0, f"{runner.failures} failing example(s) in {obj.__name__}'s docstring"
    if "Examples" in (obj.__doc__ or ""):
        assert runner.tries > 0
