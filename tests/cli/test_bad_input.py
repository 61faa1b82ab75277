"""Broken inputs, one row each: the command ends with exit status 2 and one message naming the
culprit (file, column, option, program, values), never a traceback, and writes nothing.

Each row: an id, how to break a good data folder (a function of the folder returning the
command's arguments), and the words the message must contain.
"""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

from rebatelab.cli.main import main
from tests.conftest import PROGRAMS_YAML, make_frames, write_folder


def _folder(tmp_path):
    tx, cu, pr, en = make_frames()
    folder = write_folder(tmp_path / "data", tx, cu, pr, en)
    (folder / "programs.yaml").write_text(PROGRAMS_YAML, encoding="utf-8")
    return folder


def _accrue(folder, *extra, out=None):
    out = out if out is not None else folder.parent / "out" / "accrual.csv"
    return ["accrue", "--data", str(folder), "--as-of", "2025-12-31", "--out", str(out), *extra]


def _table(folder, name, change):
    path = folder / f"{name}.csv"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    change(df).to_csv(path, index=False)


def _cell(name, column, row, value):
    def broken(folder):
        def change(df):
            df[column] = df[column].astype(object)
            df.loc[row, column] = value
            return df

        _table(folder, name, change)
        return _accrue(folder)

    return broken


def _programs(text):
    def broken(folder):
        (folder / "programs.yaml").write_text(text, encoding="utf-8")
        return _accrue(folder)

    return broken


def _program_bytes(data: bytes):
    def broken(folder):
        (folder / "programs.yaml").write_bytes(data)
        return _accrue(folder)

    return broken


_ONE = """programs:
  - id: P1
    start: 2025-01-01
    end: 2025-12-31
    {extra}
"""


def _one(extra: str):
    return _programs(_ONE.format(extra=extra))


def _drop_column(folder):
    _table(folder, "transactions", lambda df: df.drop(columns=["net_amount"]))
    return _accrue(folder)


def _duplicate_customer(folder):
    _table(folder, "customers", lambda df: pd.concat([df, df.iloc[[1]]], ignore_index=True))
    return _accrue(folder)


def _repeated_line(folder):
    _table(folder, "transactions", lambda df: pd.concat([df, df.iloc[[4]]], ignore_index=True))
    return _accrue(folder)


def _two_tables(folder):
    pd.read_csv(folder / "products.csv").to_parquet(folder / "products.parquet")
    return _accrue(folder)


def _day_first(folder):
    _table(folder, "transactions", lambda df: df.assign(date="05/03/2025"))
    return _accrue(folder)


def _day_first_in_memory(folder):
    _table(folder, "transactions", lambda df: df.assign(date="05/03/2025"))
    return _accrue(folder, "--backend", "numpy")


def _no_folder(folder):
    return _accrue(folder / "nope")


def _below_a_file(folder):
    return _accrue(folder, out=folder / "customers.csv" / "accrual.csv")


def _at_a_folder(folder):
    return _accrue(folder, out=folder)


def _exclusions_txt(folder):
    return _accrue(folder, "--exclusions", str(folder.parent / "e.txt"))


def _variant_over_guardrail(folder):
    text = PROGRAMS_YAML.replace(
        "    cap: 300\n",
        "    cap: 300\n    guardrails: {max_rate: 0.05}\n"
        "  - id: TOOLS-A\n    variant_of: TOOLS\n    customers_only: [A]\n"
        "    tiers: [{from: 1000, rate: 0.09}]\n",
        1,
    )
    (folder / "programs.yaml").write_text(text, encoding="utf-8")
    return _accrue(folder)


def _random_workspace(folder):
    path = folder / "rebatelab.duckdb"
    path.write_bytes(os.urandom(4096))
    return ["ledger", "--workspace", str(path)]


def _truncated_workspace(folder):
    good = folder / "rebatelab.duckdb"
    propose = ["propose", "--data", str(folder), "--program", "TOOLS", "--enroll", "D"]
    assert main([*propose, "--reason", "r", "--user", "ann", "--today", "2025-02-01"]) == 0
    data = good.read_bytes()
    cut = folder / "cut.duckdb"
    cut.write_bytes(data[: len(data) // 3])
    return ["ledger", "--workspace", str(cut)]


def _foreign_duckdb(folder):
    import duckdb

    path = folder / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t AS SELECT 1 AS x")
    con.close()
    return ["ledger", "--workspace", str(path)]


def _self_approval(folder):
    ws = folder / "ws.duckdb"
    propose = ["propose", "--data", str(folder), "--workspace", str(ws), "--program", "TOOLS"]
    propose += ["--enroll", "D", "--reason", "r", "--user", "ann", "--today", "2025-02-01"]
    assert main(propose) == 0
    return ["approve", "1", "--reason", "mine", "--user", "ann", "--workspace", str(ws)]


def _propose_over_guardrail(folder):
    text = PROGRAMS_YAML.replace(
        "    cap: 300\n", "    cap: 300\n    guardrails: {max_rate: 0.05}\n"
    )
    (folder / "programs.yaml").write_text(text, encoding="utf-8")
    ws = folder / "ws.duckdb"
    args = ["propose", "--data", str(folder), "--workspace", str(ws), "--program", "TOOLS"]
    args += ["--variant", "A", "--tiers", "1000:0.09", "--reason", "r", "--user", "ann"]
    return [*args, "--today", "2025-02-01"]


def _forecast_below_file(folder):
    out = folder / "customers.csv" / "f.csv"
    return ["forecast", "--data", str(folder), "--as-of", "2025-06-30", "--out", str(out)]


def _review_at_a_file(folder):
    out = folder / "customers.csv"
    return ["review", "--data", str(folder), "--as-of", "2025-06-30", "--out", str(out)]


def _simulate_at_a_file(folder):
    return ["simulate", "--customers", "5", "--out", str(folder / "customers.csv")]


def _explain_bad_out(folder):
    args = ["explain", "--data", str(folder), "--as-of", "2025-12-31", "--invoice", "I3"]
    return args + ["--out", str(folder / "x.json")]


_BOMB = "programs:\n  - id: P1\n    start: 2025-01-01\n    end: 2025-12-31\n"
_BOMB += "    tiers: [{from: 0, rate: 0.01}]\n    enrollment: automatic\n"
_BOMB += "    a: &a [x, x, x, x, x, x, x, x, x, x]\n"
for _i, _n in enumerate("bcdefg"):
    _prev = "abcdefg"[_i]
    _BOMB += f"    {_n}: &{_n} [*{_prev}, *{_prev}, *{_prev}, *{_prev}, *{_prev}, *{_prev}, *{_prev}, *{_prev}, *{_prev}, *{_prev}]\n"  # noqa: E501
_BOMB += "    customers_only: *g\n"

TIERS = "tiers: [{from: 0, rate: 0.01}]"

CASES = [
    # ------------------------------------------------------------------ the data folder
    ("date not a date", _cell("transactions", "date", 2, "not a date"),
     ["transactions.csv", "'date'", "not dates", "'not a date'"]),
    ("date day-first, default path", _day_first,
     ["transactions.csv", "'date'", "'05/03/2025'", "--date-format"]),
    ("date day-first, in memory", _day_first_in_memory,
     ["transactions.csv", "'date'", "'05/03/2025'", "YYYY-MM-DD", "--date-format"]),
    ("impossible ISO date", _cell("transactions", "date", 3, "2025-02-30"),
     ["transactions.csv", "'date'", "'2025-02-30'"]),
    ("bad --date-format", lambda f: _accrue(f, "--date-format", "DD/MM/YYYY"),
     ["--date-format", "DD/MM/YYYY", "%d/%m/%Y"]),
    ("--date-format with an offset", lambda f: _accrue(f, "--date-format", "%d/%m/%Y %z"),
     ["--date-format", "%z"]),
    ("enrolled_on day-first",
     lambda f: (_table(f, "enrollments", lambda d: d.assign(enrolled_on="01/02/2025")),
                _accrue(f))[1],
     ["enrollments.csv", "'enrolled_on'", "'01/02/2025'"]),
    ("missing column", _drop_column, ["transactions.csv", "missing required column", "net_amount"]),
    ("number with a comma", _cell("transactions", "net_amount", 4, "12,50"),
     ["transactions.csv", "'net_amount'", "not numbers", "'12,50'"]),
    ("infinite amount", _cell("transactions", "net_amount", 1, "inf"),
     ["'net_amount'", "infinite"]),
    ("missing customer id", _cell("transactions", "customer_id", 1, ""),
     ["'customer_id'", "missing"]),
    ("unknown customer", _cell("transactions", "customer_id", 1, "ZZ"),
     ["'customer_id'", "not in customers", "'ZZ'"]),
    ("unknown product", _cell("transactions", "product_id", 2, "P99"),
     ["'product_id'", "not in products", "'P99'"]),
    ("duplicate customer", _duplicate_customer, ["customers.csv", "repeat an id", "B"]),
    ("repeated line", _repeated_line, ["exactly repeat an earlier line"]),
    ("enrollment of an unknown customer", _cell("enrollments", "customer_id", 0, "ZZ"),
     ["enrollments.csv", "not in customers", "'ZZ'"]),
    ("enrollment of an unknown program", _cell("enrollments", "program_id", 0, "NOPE"),
     ["enrollments", "NOPE"]),
    ("two files for one table", _two_tables, ["products", "ambiguous"]),
    ("no data folder", _no_folder, ["data folder not found", "nope"]),
    # ------------------------------------------------------------------ the program file
    ("unknown key", _one(f"{TIERS}\n    tierz: 1"), ["P1", "tierz"]),
    ("thresholds not ascending", _one("tiers: [{from: 500, rate: 0.01}, {from: 100, rate: 0.02}]"),
     ["P1", "tiers", "ascending"]),
    ("rate above 1", _one("tiers: [{from: 0, rate: 1.5}]"), ["P1", "rate"]),
    ("amount with incremental", _one("method: incremental\n    tiers: [{from: 0, amount: 5}]"),
     ["P1", "amount", "retroactive"]),
    ("end before start", _programs(_ONE.replace("end: 2025-12-31", "end: 2024-12-31").format(
        extra=TIERS)), ["P1", "end", "before start"]),
    ("duplicate program id", _programs(_ONE.format(extra=TIERS) + _ONE.format(extra=TIERS)
                                       .replace("programs:\n", "")),
     ["P1", "duplicate id"]),
    ("variant of an unknown program", _programs(
        "programs:\n  - id: V\n    variant_of: NOPE\n    customers_only: [A]\n"),
     ["V", "NOPE"]),
    ("variant over a guardrail", _variant_over_guardrail, ["TOOLS-A", "max_rate"]),
    ("key written twice", _one(f"{TIERS}\n    cap: 10\n    cap: 20"), ["P1", "cap"]),
    ("impossible date", _programs(_ONE.replace("start: 2025-01-01", "start: 2025-13-01")
                                  .format(extra=TIERS)), ["2025-13-01"]),
    ("alias bomb", _programs(_BOMB), ["alias"]),
    ("binary program file", _program_bytes(bytes(range(256)) * 4), ["programs.yaml", "UTF-8"]),
    ("Latin-1 program file", _program_bytes(
        _ONE.format(extra=TIERS + "\n    name: Caf\xe9").encode("latin-1")),
     ["programs.yaml", "UTF-8"]),
    ("program file is a folder", lambda f: (os.remove(f / "programs.yaml"),
                                            os.mkdir(f / "programs.yaml"), _accrue(f))[2],
     ["programs.yaml", "folder"]),
    ("empty programs list", _programs("programs: []\n"), ["no program"]),
    ("no programs key", _programs("rebates: []\n"), ["programs"]),
    ("program file missing", lambda f: _accrue(f, "--programs", str(f / "none.yaml")),
     ["program file not found", "none.yaml"]),
    # ------------------------------------------------------------------ options and paths
    ("--as-of not a date", lambda f: [*_accrue(f)[:4], "31/12/2025", *_accrue(f)[5:]],
     ["not a date", "31/12/2025"]),
    ("--out below a file", _below_a_file, ["--out", "customers.csv", "is a file"]),
    ("--out at a folder", _at_a_folder, ["--out", "is a folder"]),
    ("--out unknown extension", lambda f: _accrue(f, out=f.parent / "a.txt"),
     ["--out", "'.txt'", ".csv"]),
    ("--exclusions e.txt", _exclusions_txt, ["--exclusions", "'.txt'", ".csv or .parquet"]),
    ("--exclusions e.txt, in memory", lambda f: [*_exclusions_txt(f), "--backend", "numpy"],
     ["--exclusions", "'.txt'"]),
    ("--memory-limit banana", lambda f: _accrue(f, "--memory-limit", "banana"),
     ["--memory-limit", "banana", "4GB"]),
    ("--workspace missing", lambda f: _accrue(f, "--workspace", str(f / "none.duckdb")),
     ["--workspace", "none.duckdb"]),
    ("forecast --out below a file", _forecast_below_file, ["--out", "is a file"]),
    ("review --out at a file", _review_at_a_file, ["--out", "is a file", "folder"]),
    ("simulate --out at a file", _simulate_at_a_file, ["--out", "is a file"]),
    ("explain --out .json", _explain_bad_out, ["--out", "'.json'"]),
    # ------------------------------------------------------------------ workspace files
    ("workspace of random bytes", _random_workspace, ["rebatelab.duckdb"]),
    ("truncated workspace", _truncated_workspace, ["cut.duckdb"]),
    ("foreign DuckDB file", _foreign_duckdb, ["other.duckdb"]),
    ("approving one's own request", _self_approval, ["ann", "own"]),
    ("a request over a guardrail", _propose_over_guardrail, ["max_rate"]),
]  # fmt: skip


@pytest.mark.parametrize(("broken", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_exits_2_with_one_clear_message(tmp_path, capsys, broken, words):
    folder = _folder(tmp_path)
    argv = broken(folder)
    capsys.readouterr()
    before = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert err.startswith(f"rebatelab {argv[0]}: error: ")
    missing = [w for w in words if w not in err]
    assert not missing, f"{missing} not in: {err}"
    after = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    # a refused change request is on record in the workspace (history lists it), by design
    written = [p for p in after if p not in before and p.suffix not in (".duckdb", ".wal")]
    assert not written, f"files written on refusal: {written}"


def test_every_row_is_a_different_input():
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.skipif(os.geteuid() == 0, reason="the root user writes to read-only folders")
def test_out_without_write_permission(tmp_path, capsys):
    folder = _folder(tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(_accrue(folder, out=locked / "a.csv")) == 2
        assert "--out" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_the_write_permission_check_is_made(tmp_path, monkeypatch, capsys):
    """Run as root (who may write anywhere), the check is still made: os.access says no."""
    folder = _folder(tmp_path)
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert main(_accrue(folder)) == 2
    assert "no write permission" in capsys.readouterr().err


def test_mixed_offsets_are_read_as_written(tmp_path, capsys):
    """Not an error: the README's rule (the date as written, offsets not applied)."""
    folder = _folder(tmp_path)
    stamps = ["2025-03-01T10:00:00+02:00", "2025-06-01T23:30:00-05:00", "2025-01-15T00:15Z"]

    def change(df):
        df["date"] = [stamps[i % 3] for i in range(len(df))]
        return df

    _table(folder, "transactions", change)
    assert main(_accrue(folder)) == 0
    out = folder.parent / "out"
    assert main(_accrue(folder, "--backend", "numpy", out=out / "b.csv")) == 0
    a, b = pd.read_csv(out / "accrual.csv"), pd.read_csv(out / "b.csv")
    pd.testing.assert_frame_equal(a, b)
    shutil.rmtree(out)
