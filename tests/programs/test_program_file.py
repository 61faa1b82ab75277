"""The program file refuses what YAML would read silently or blow up on, naming the culprit."""

import numpy as np
import pytest

from rebatelab.errors import ProgramFileError
from rebatelab.programs.terms import MAX_YAML_NODES, load_programs, parse_yaml

ONE = """programs:
  - id: A
    start: 2025-01-01
    end: 2025-12-31
    tiers: [{from: 0, rate: 0.01}]
"""


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (
            ONE + "    tiers: [{from: 0, rate: 0.02}]\n",
            ["program A", "duplicate key 'tiers'", "lines 5 and 6"],
        ),
        (ONE.replace("rate: 0.01", "rate: 0.01, rate: 0.02"), ["program A", "'rate'", "line 5"]),
        (ONE.replace("start: 2025-01-01", "start: 2025-13-01"), ["line 3", "2025-13-01", "date"]),
        ("programs: []\n", ["lists no program"]),
        ("programs:\n  - id: A\n  - id: A\n", ["duplicate id"]),
        ("programs: [\n", ["not valid YAML"]),
    ],
)
def test_program_text_refused_with_the_culprit_named(text, words):
    with pytest.raises(ProgramFileError) as err:
        load_programs(text)
    for w in words:
        assert w in str(err.value)


def test_alias_bomb_refused_before_it_is_built():
    """Six levels of ten-fold aliases expand to 2.3M values: refused from the node count."""
    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for prev, cur in zip("abcde", "bcdef", strict=True):
        levels.append(f"{cur}: &{cur} [" + ", ".join([f"*{prev}"] * 10) + "]")
    text = "\n".join(levels) + "\nprograms:\n  - id: A\n    customers_only: *f\n"
    with pytest.raises(ProgramFileError, match="aliases expand to 2,345,690"):
        load_programs(text)
    # a small alias is fine
    assert parse_yaml("a: &a [1, 2]\nb: *a") == {"a": [1, 2], "b": [1, 2]}
    assert MAX_YAML_NODES >= 10_000


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("programs:\n  - id: Caf\xe9\n".encode("latin-1"), ["not UTF-8", "byte 21"]),
        (bytes(range(256)), ["not UTF-8"]),
    ],
)
def test_program_file_not_utf8_refused(tmp_path, content, words):
    path = tmp_path / "programs.yaml"
    path.write_bytes(content)
    with pytest.raises(ProgramFileError) as err:
        load_programs(path)
    assert str(path) in str(err.value)
    for w in words:
        assert w in str(err.value)


def test_program_file_that_is_a_folder_refused(tmp_path):
    with pytest.raises(ProgramFileError, match="is a folder"):
        load_programs(tmp_path)


def test_a_tier_with_rate_and_amount_pays_both():
    """The README's reading: a tier may carry a rate and a lump sum; reaching it pays both."""
    ps = load_programs(ONE.replace("{from: 0, rate: 0.01}", "{from: 100, rate: 0.02, amount: 50}"))
    got = ps["A"].earned(np.array([99.0, 100.0, 1000.0]))
    assert got.tolist() == [0.0, 2.0 + 50.0, 20.0 + 50.0]
