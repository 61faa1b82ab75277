"""Run the Examples blocks of the core modules' docstrings as doctests."""

import doctest
import importlib

import pytest

MODULES = [
    "rebatelab.programs.tiers",
    "rebatelab.programs.terms",
    "rebatelab._arrays",
    "rebatelab.engine.accrual",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch):
    from tests.conftest import ROOT

    monkeypatch.chdir(ROOT)
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
