"""write_table's CSV: DuckDB writes the same bytes as pandas' to_csv, or pandas writes it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rebatelab.cli.commands import _common

duckdb = pytest.importorskip("duckdb")

FLOATS = [
    0.0,
    -0.0,
    1.0,
    3.0,
    0.1,
    1e-05,
    1.5e-5,
    1e-4,
    1e15,
    1e16,
    1.2345678901234567e16,
    123456789012345.6,
    np.nan,
    np.inf,
    -np.inf,
    2.5e-300,
    5e-324,
    1.7976931348623157e308,
    -52.46,
    1 / 3,
    1e22,
]


def _frame(n: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    text = ["a", "b,c", 'q"x', "", None, "two\nlines", " sp ", "é", "x;y"]
    f = np.concatenate([FLOATS, rng.lognormal(3.0, 4.0, n) * rng.choice([-1, 1], n)])[:n]
    f[rng.random(n) < 0.05] = np.nan
    return pd.DataFrame(
        {
            "program_id": [text[i % len(text)] for i in range(n)],
            "s,comma": pd.array([text[(i * 7) % len(text)] for i in range(n)], dtype="string"),
            "x": f,
            "q_0.5": rng.normal(0, 1e6, n).round(2),
            "k": rng.integers(-5, 10**12, n),
            "k32": rng.integers(-5, 100, n).astype("int32"),
            "flag": rng.random(n) < 0.5,
        }
    )


@pytest.fixture
def always_duckdb(monkeypatch):
    monkeypatch.setattr(_common, "_DUCKDB_CSV_ROWS", 0)


@pytest.mark.parametrize("n", [1, 40, 3000])
def test_duckdb_csv_is_pandas_csv(tmp_path, always_duckdb, n):
    df = _frame(n)
    assert _common._csv_select(df) is not None
    _common.write_table(df, tmp_path / "d.csv")
    df.to_csv(tmp_path / "p.csv", index=False)
    assert (tmp_path / "d.csv").read_bytes() == (tmp_path / "p.csv").read_bytes()


@pytest.mark.parametrize(
    "column",
    [
        pd.to_datetime(["2025-09-30", "2025-10-01"]),
        pd.Categorical(["a", "b"]),
        pd.array([1, None], dtype="Int64"),
        np.array([1.5, 2.5], dtype="float32"),
        np.array([1, "a"], dtype=object),
        np.array([True, None], dtype=object),
    ],
)
def test_other_columns_are_written_by_pandas(tmp_path, always_duckdb, column):
    df = pd.DataFrame({"a": [1.0, 2.0], "c": column})
    assert _common._csv_select(df) is None
    _common.write_table(df, tmp_path / "o.csv")
    df.to_csv(tmp_path / "p.csv", index=False)
    assert (tmp_path / "o.csv").read_bytes() == (tmp_path / "p.csv").read_bytes()


def test_repeated_or_non_text_names_are_written_by_pandas(tmp_path, always_duckdb):
    assert _common._csv_select(pd.DataFrame([[1, 2]], columns=["a", "a"])) is None
    assert _common._csv_select(pd.DataFrame([[1, 2]], columns=[0, 1])) is None


def test_quote_in_path(tmp_path, always_duckdb):
    df = _frame(10)
    path = tmp_path / "it's.csv"
    _common.write_table(df, path)
    assert path.read_text() == df.to_csv(index=False)
