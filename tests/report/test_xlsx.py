"""The xlsx writer every command uses: formats, widths, frozen header, cover sheet."""

from __future__ import annotations

import doctest

import pandas as pd
import pytest

from rebatelab.report import xlsx
from rebatelab.report.xlsx import MONEY, PERCENT, cover_info, workbook_bytes, write_workbook

openpyxl = pytest.importorskip("openpyxl")


def test_docstring_examples():
    assert doctest.testmod(xlsx).failed == 0


def test_formats_widths_freeze_and_cover(tmp_path):
    df = pd.DataFrame(
        {
            "program_id": ["GOLD-2026", "STEP-2026"],
            "customer_name": ["A very long customer name indeed", "B"],
            "expected": [1234567.891, -12.5],
            "p_next_tier": [0.25, 0.5],
            "tier": [1, 2],
        }
    )
    path = write_workbook(
        {"by_program": df},
        tmp_path / "out" / "x.xlsx",
        cover=cover_info(as_of="2026-09-30", method="hierarchical", data_source="data/sample"),
    )
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["cover", "by_program"]
    ws = wb["by_program"]
    assert ws.freeze_panes == "A2"
    assert ws["C2"].number_format == MONEY and ws["C2"].value == pytest.approx(1234567.891)
    assert ws["D2"].number_format == PERCENT
    assert ws["E2"].number_format == "#,##0"
    assert ws["A1"].font.bold
    assert ws.column_dimensions["B"].width >= len("A very long customer name indeed")
    assert ws.column_dimensions["C"].width >= len("1,234,567.89")
    cover = {r[0]: r[1] for r in wb["cover"].iter_rows(min_row=3, values_only=True)}
    assert cover["as of"] == "2026-09-30" and cover["method"] == "hierarchical"
    assert cover["data source"] == "data/sample"
    assert cover["generated at"].endswith("UTC") and cover["rebatelab version"]


def test_bytes_are_the_same_workbook(tmp_path):
    df = pd.DataFrame({"expected": [1.0]})
    raw = workbook_bytes({"t": df}, cover={"as of": "2026-09-30"})
    p = tmp_path / "b.xlsx"
    p.write_bytes(raw)
    wb = openpyxl.load_workbook(p)
    assert wb.sheetnames == ["cover", "t"] and wb["t"]["A2"].number_format == MONEY


def test_refuses_colliding_sheet_names(tmp_path):
    from rebatelab.errors import ParameterError

    with pytest.raises(ParameterError, match="unique"):
        write_workbook({"cover": pd.DataFrame({"a": [1]})}, tmp_path / "c.xlsx", cover={})


@pytest.mark.slow
def test_cli_liability_workbook_has_cover_names_and_formats(tmp_path, capsys):
    from rebatelab.cli.main import main
    from rebatelab.datasets import sample_path

    folder = sample_path()
    out = tmp_path / "liability.xlsx"
    code = main(
        ["liability", "--data", str(folder), "--as-of", "2026-09-30", "--out", str(out),
         "--no-workspace"]
    )  # fmt: skip
    assert code == 0
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames[0] == "cover"
    cover = {r[0]: r[1] for r in wb["cover"].iter_rows(min_row=3, values_only=True)}
    assert cover["as of"] == "2026-09-30" and "hierarchical" in cover["method"]
    assert cover["data source"] == str(folder)
    bc = wb["by_customer"]
    header = [c.value for c in bc[1]]
    assert "customer_name" in header
    col = header.index("expected") + 1
    assert bc.cell(row=2, column=col).number_format == MONEY
    assert bc.freeze_panes == "A2"
    # the accrual written by any command: formatted, data first, cover last
    acc = tmp_path / "accrual.xlsx"
    assert main(["accrue", "--data", str(folder), "--as-of", "2026-09-30", "--out", str(acc)]) == 0
    wb = openpyxl.load_workbook(acc)
    assert wb.sheetnames[-1] == "cover" and wb.worksheets[0].freeze_panes == "A2"
