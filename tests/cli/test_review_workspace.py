"""rebatelab review --workspace: only approved terms and enrollments are reviewed."""

from __future__ import annotations

import shutil

import pandas as pd

from rebatelab.cli.main import main
from rebatelab.datasets import sample_path

SAMPLE = sample_path()
AS_OF = "2026-09-30"


def test_an_enrollment_approved_in_the_workspace_leaves_the_not_enrolled_list(tmp_path):
    data = tmp_path / "d"
    shutil.copytree(SAMPLE, data, symlinks=False)
    ws = tmp_path / "ws.duckdb"
    common = ["--data", str(data), "--as-of", AS_OF, "--method", "run_rate", "--min-value", "0"]

    def not_enrolled(name):
        out = tmp_path / name
        assert main(["review", *common, "--workspace", str(ws), "--out", str(out)]) == 0
        eli = pd.read_csv(out / "eligible_not_enrolled.csv", dtype={"customer_id": str})
        return eli[eli["program_id"] == "GOLD-2026"]

    propose = ["propose", "--data", str(data), "--workspace", str(ws), "--program", "GOLD-2026"]
    # a customer listed as eligible, not enrolled, without the workspace
    out0 = tmp_path / "plain"
    assert main(["review", *common, "--out", str(out0)]) == 0
    eli0 = pd.read_csv(out0 / "eligible_not_enrolled.csv", dtype={"customer_id": str})
    who = eli0.loc[eli0["program_id"] == "GOLD-2026", "customer_id"].iloc[0]
    propose += ["--enroll", who, "--effective", "2026-01-01", "--reason", "r", "--user", "rep"]
    assert main(propose) == 0
    before = not_enrolled("pending")
    assert who in set(before["customer_id"])  # pending: not in force
    decide = ["1", "--reason", "ok", "--user", "manager", "--workspace", str(ws)]
    assert main(["approve", *decide]) == 0
    after = not_enrolled("approved")
    assert who not in set(after["customer_id"])
    assert len(after) == len(before) - 1


def test_review_refuses_a_missing_workspace(tmp_path, capsys):
    args = ["review", "--data", str(SAMPLE), "--as-of", AS_OF, "--out", str(tmp_path / "o")]
    assert main([*args, "--workspace", str(tmp_path / "nope.duckdb")]) == 2
    assert "--workspace" in capsys.readouterr().err
