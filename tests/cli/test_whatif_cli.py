"""``rebatelab whatif``: the comparison table of candidate designs, and bad input (exit 2)."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from rebatelab.cli.main import main
from rebatelab.io.folders import load_data
from rebatelab.programs.terms import load_programs
from rebatelab.simulation.compare import compare_designs, parse_designs
from rebatelab.simulation.whatif import whatif_base
from tests.conftest import SAMPLE

CANDIDATES = """\
programs:
  - id: LOWER
    tiers: [{from: 1200, rate: 0.02}, {from: 3200, rate: 0.03}, {from: 8000, rate: 0.045}]
  - id: SAME
    tiers: [{from: 1400, rate: 0.02}, {from: 3600, rate: 0.03}, {from: 9200, rate: 0.045}]
  - id: ZERO-TOP
    tiers: [{from: 1400, rate: 0.03}, {from: 3600, rate: 0.0}]
"""


def args(tmp_path, *extra, candidates=CANDIDATES, out="table.csv"):
    cand = tmp_path / "candidates.yaml"
    cand.write_text(candidates)
    return [
        "whatif", "--data", str(SAMPLE), "--as-of", "2026-09-30", "--program", "GOLD-2026",
        "--candidates", str(cand), "--out", str(tmp_path / out), "--scenarios", "100", *extra,
    ]  # fmt: skip


def test_whatif_writes_the_comparison_table(tmp_path, capsys):
    assert main(args(tmp_path, "--margin", "0.3")) == 0
    got = pd.read_csv(tmp_path / "table.csv", keep_default_na=False, na_values=[""])
    assert got["design"].tolist() == ["current", "LOWER", "SAME", "ZERO-TOP"]
    # the same table as the library call on the same data, scenarios and seed
    data = load_data(SAMPLE)
    current = load_programs(SAMPLE / "programs.yaml")["GOLD-2026"]
    designs = parse_designs(yaml.safe_load(CANDIDATES))
    base = whatif_base(data, as_of="2026-09-30")
    ref = compare_designs(base, current, designs, margin=0.3, n_scenarios=100).reset_index()
    num = ref.select_dtypes("number").columns.drop("cost_per_provoked")
    pd.testing.assert_frame_equal(got[num], ref[num], check_dtype=False)
    # a design with the current tiers differs by nothing
    same = got.set_index("design").loc["SAME"]
    assert same["payout_vs_current"] == 0 and same["profit_vs_current"] == 0
    assert "tier 2 pays nothing" in got.set_index("design").at["ZERO-TOP", "findings"]
    out = capsys.readouterr().out
    assert "ZERO-TOP: tier 2 pays nothing" in out and "%" in out


@pytest.mark.parametrize(
    ("extra", "candidates", "message"),
    [
        ((), "programs: []\n", "non-empty list of designs"),
        ((), "programs:\n  - tiers: [{from: 1, rate: 0.01}]\n", "design 1 needs an 'id'"),
        ((), "programs:\n  - {id: current, tiers: [{from: 1, rate: 0.01}]}\n", "current"),
        ((), "programs: [\n", "not valid YAML"),
        ((), "programs:\n  - id: DOWN\n    tiers: [{from: 2000, rate: 0.02}, {from: 1000, "
             "rate: 0.03}]\n", "thresholds must increase"),
        (("--margin", "30"), CANDIDATES, "--margin must be a fraction"),
        (("--scenarios", "0"), CANDIDATES, "n_scenarios must be a positive integer"),
    ],
)  # fmt: skip
def test_bad_input_exits_2_with_a_message(tmp_path, capsys, extra, candidates, message):
    assert main(args(tmp_path, *extra, candidates=candidates)) == 2
    err = capsys.readouterr().err
    assert err.startswith("rebatelab whatif: error:") and message in err
    assert "Traceback" not in err
    assert not (tmp_path / "table.csv").exists()


def test_unknown_program_and_output_refused(tmp_path, capsys):
    a = args(tmp_path)
    a[a.index("GOLD-2026")] = "NOPE"
    assert main(a) == 2
    assert "unknown program id 'NOPE'" in capsys.readouterr().err
    assert main(args(tmp_path, out="table.txt")) == 2
    assert "unknown extension" in capsys.readouterr().err


def test_candidates_may_be_json(tmp_path, capsys):
    import json

    designs = {"programs": [{"id": "J", "tiers": [{"from": 1200, "rate": 0.02}]}]}
    assert main(args(tmp_path, candidates=json.dumps(designs))) == 0
    got = pd.read_csv(tmp_path / "table.csv")
    assert got["design"].tolist() == ["current", "J"]
