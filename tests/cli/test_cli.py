"""The CLI end to end: the sample, output formats, and bad input (exit status 2, one message)."""

import subprocess
import sys

import pandas as pd
import pytest

from rebatelab.cli.main import main
from tests.conftest import SAMPLE, make_frames, write_folder


def run(*args):
    return subprocess.run(
        [sys.executable, "-m", "rebatelab.cli.main", *args],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("ext", ["csv", "parquet", "xlsx"])
def test_accrue_on_sample(tmp_path, ext, capsys):
    out = tmp_path / f"acc.{ext}"
    exc = tmp_path / "exc.csv"
    code = main(
        [
            "accrue",
            "--data",
            str(SAMPLE),
            "--programs",
            str(SAMPLE / "programs.yaml"),
            "--as-of",
            "2026-06-30",
            "--out",
            str(out),
            "--exclusions",
            str(exc),
        ]
    )
    assert code == 0
    reader = {"csv": pd.read_csv, "parquet": pd.read_parquet, "xlsx": pd.read_excel}[ext]
    acc = reader(out)
    for col in [
        "program_id",
        "customer_id",
        "pool_id",
        "basis",
        "tier",
        "rate",
        "earned",
        "payable",
        "next_threshold",
        "gap_to_next",
        "earned_at_next",
        "days_left",
        "flags",
    ]:
        assert col in acc.columns
    assert len(pd.read_csv(exc)) > 0
    assert "rows for" in capsys.readouterr().out


def test_demo_prints_summary(tmp_path, capsys):
    assert main(["demo", "--data", str(SAMPLE), "--out", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    assert "Customers nearest to their next tier" in text and "Reconciliation" in text
    assert "expected_at_end" in text and "Top opportunities" in text
    assert (tmp_path / "accrual.csv").exists()


def test_bad_data_exit_2_and_one_message(tmp_path):
    tx, cu, pr, en = make_frames()
    tx.loc[2, "date"] = "not a date"
    folder = write_folder(tmp_path / "bad", tx, cu, pr, en)
    r = run(
        "accrue",
        "--data",
        str(folder),
        "--programs",
        str(SAMPLE / "programs.yaml"),
        "--as-of",
        "2025-12-31",
        "--out",
        str(tmp_path / "x.csv"),
    )
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "transactions.csv: column 'date': 1 row(s) are not dates" in r.stderr
    assert r.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "2025-02-30"], "not a date (YYYY-MM-DD): '2025-02-30'"),
        (["--as-of", "2026-06-30", "--programs", "/nonexistent.yaml"], "program file not found"),
        (["--as-of", "2026-06-30", "--out", "x.txt"], "unknown extension '.txt'"),
    ],
)
def test_bad_arguments(args, message, tmp_path):
    base = ["accrue", "--data", str(SAMPLE), "--out", str(tmp_path / "a.csv")]
    if "--out" in args:
        base = base[:-2]
    r = run(*base, *args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_help_documents_commands():
    r = run("--help")
    assert r.returncode == 0 and "accrue" in r.stdout and "Exit status" in r.stdout
    r = run("accrue", "--help")
    assert "--exclusions" in r.stdout and "--as-of" in r.stdout


@pytest.mark.parametrize("extra", [["--backend", "duckdb"], ["--backend", "duckdb", "--lazy"]])
def test_accrue_backends_agree_to_the_cent(tmp_path, extra):
    pytest.importorskip("duckdb")
    base = ["accrue", "--data", str(SAMPLE), "--as-of", "2026-06-30"]
    assert main([*base, "--out", str(tmp_path / "numpy.csv")]) == 0
    assert main([*base, "--out", str(tmp_path / "other.csv"), *extra]) == 0
    a, b = pd.read_csv(tmp_path / "numpy.csv"), pd.read_csv(tmp_path / "other.csv")
    pd.testing.assert_frame_equal(a, b)


def test_lazy_needs_a_streaming_backend(tmp_path):
    r = run(
        "accrue",
        "--data",
        str(SAMPLE),
        "--as-of",
        "2026-06-30",
        "--out",
        str(tmp_path / "a.csv"),
        "--lazy",
    )
    assert r.returncode == 2 and "--lazy needs --backend duckdb" in r.stderr


def test_default_accrue_on_files_equals_in_memory_path(tmp_path):
    """The default path (DuckDB over the files) writes what the in-memory path writes."""
    base = ["accrue", "--data", str(SAMPLE), "--as-of", "2026-06-30"]
    files = tmp_path / "files.csv"
    memory = tmp_path / "memory.csv"
    assert main([*base, "--out", str(files), "--exclusions", str(tmp_path / "ef.csv")]) == 0
    assert main([*base, "--out", str(memory), "--backend", "numpy",
                 "--exclusions", str(tmp_path / "em.csv")]) == 0  # fmt: skip
    assert files.read_bytes() == memory.read_bytes()
    key = ["program_id", "row"]
    a = pd.read_csv(tmp_path / "ef.csv").sort_values(key).reset_index(drop=True)
    b = pd.read_csv(tmp_path / "em.csv").sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


def test_explain_verb(tmp_path):
    tx, cu, pr, en = make_frames()
    from tests.conftest import PROGRAMS_YAML

    folder = write_folder(tmp_path / "d", tx, cu, pr, en)
    (folder / "programs.yaml").write_text(PROGRAMS_YAML)
    r = run("explain", "--data", str(folder), "--as-of", "2025-12-31", "--invoice", "I3",
            "--program", "TOOLS", "--out", str(tmp_path / "why.csv"))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "counts toward TOOLS" in r.stdout and "product P2 does not pass" in r.stdout
    why = pd.read_csv(tmp_path / "why.csv")
    assert why.set_index("product_id")["reason"].to_dict() == {
        "P1": "counted",
        "P2": "product_not_eligible",
    }
    r = run("explain", "--data", str(folder), "--as-of", "2025-12-31", "--invoice", "NOPE")
    assert r.returncode == 2 and "no line has invoice_id 'NOPE'" in r.stderr
    assert "Traceback" not in r.stderr


def test_parser_reads_commands_without_importing_them():
    """`rebatelab --help` imports no command module and no pandas (start-up stays short)."""
    code = (
        "import sys\n"
        "from rebatelab.cli.main import build_parser\n"
        "build_parser(['--help'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('rebatelab.cli.commands.')))\n"
        "print('pandas' in sys.modules, 'numpy' in sys.modules)\n"
        "build_parser(['accrue', '--help'])\n"
        "print('pandas' in sys.modules)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lines = r.stdout.splitlines()
    assert lines[0] == "[]"
    assert lines[1] == "False False"
    assert lines[2] == "False"  # the accrue module imports pandas inside run()


def test_command_table_matches_the_modules():
    import importlib

    from rebatelab.cli.main import command_table

    table = command_table()
    assert {"accrue", "explain", "demo", "forecast"} <= set(table)
    for name, (module, help_text, doc) in table.items():
        mod = importlib.import_module(f"rebatelab.cli.commands.{module}")
        assert (mod.NAME, mod.HELP, mod.__doc__.strip()) == (name, help_text, doc.strip())


@pytest.mark.parametrize("backend", [[], ["--backend", "numpy"]])
def test_accrue_counts_only_approved_requests_of_the_workspace(tmp_path, backend, capsys):
    """An enrollment proposed in the workspace accrues once approved, not while pending."""
    import shutil

    data = tmp_path / "d"
    shutil.copytree(SAMPLE, data, symlinks=False)
    en = pd.read_parquet(data / "enrollments.parquet")
    cu = pd.read_parquet(data / "customers.parquet")
    enrolled = set(en.loc[en["program_id"] == "GOLD-2026", "customer_id"])
    who = next(c for c in cu.loc[cu["segment"] == "OEM", "customer_id"] if c not in enrolled)
    ws = tmp_path / "ws.duckdb"
    common = ["--data", str(data), "--as-of", "2026-09-30", *backend, "--workspace", str(ws)]

    def accrued(name):
        assert main(["accrue", *common, "--out", str(tmp_path / name)]) == 0
        acc = pd.read_csv(tmp_path / name, dtype={"customer_id": str})
        return acc[(acc["program_id"] == "GOLD-2026") & (acc["customer_id"] == who)]

    propose = ["propose", "--data", str(data), "--workspace", str(ws), "--program", "GOLD-2026"]
    propose += ["--enroll", who, "--effective", "2026-01-01", "--reason", "r", "--user", "rep"]
    assert main(propose) == 0
    assert accrued("pending.csv").empty
    decide = ["1", "--reason", "ok", "--user", "manager", "--workspace", str(ws)]
    assert main(["approve", *decide]) == 0
    assert len(accrued("approved.csv")) == 1
    # the default run, without the workspace, keeps the program file's terms
    plain = ["accrue", "--data", str(data), "--as-of", "2026-09-30", *backend]
    assert main([*plain, "--out", str(tmp_path / "plain.csv")]) == 0
    acc = pd.read_csv(tmp_path / "plain.csv", dtype={"customer_id": str})
    assert not ((acc["program_id"] == "GOLD-2026") & (acc["customer_id"] == who)).any()


def test_accrue_refuses_a_missing_workspace(tmp_path, capsys):
    out = tmp_path / "a.csv"
    args = ["accrue", "--data", str(SAMPLE), "--as-of", "2026-09-30", "--out", str(out)]
    assert main([*args, "--workspace", str(tmp_path / "nope.duckdb")]) == 2
    assert "--workspace" in capsys.readouterr().err
    assert not out.exists()
