"""The what-if is stage two: it takes stage one's sums and never reads invoice lines itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import rebatelab
from rebatelab.engine import lines as engine_lines
from rebatelab.simulation.compare import compare_designs, projected_basis
from rebatelab.simulation.generator import simulate_data
from rebatelab.simulation.whatif import simulate_program, whatif_base

# the what-if's modules; generator, designs and response write the simulated lines
WHATIF_MODULES = ["base.py", "whatif.py", "compare.py"]
LINE_READERS = {engine_lines.prepare_lines.__code__, engine_lines.lines_from_frame.__code__}

PERIOD = {"start": "2027-01-01", "end": "2027-12-31"}
CANDIDATES = [
    {"id": "R", **PERIOD, "enrollment": "automatic",
     "tiers": [{"from": 1500, "rate": 0.02}, {"from": 4000, "rate": 0.03}]},
    {"id": "G", **PERIOD, "enrollment": "automatic", "growth": {"rebate_on": "excess"},
     "tiers": [{"from": 0.0, "rate": 0.02}, {"from": 0.1, "rate": 0.04}]},
    {"id": "Q", **PERIOD, "enrollment": "automatic", "basis": "quantity",
     "tiers": [{"from": 50, "rate": 0.02}]},
]  # fmt: skip


def _callers_of_line_readers(run):
    """Modules that called ``prepare_lines`` / ``lines_from_frame`` directly while ``run()``."""
    callers = []

    def profile(frame, event, arg):
        if event == "call" and frame.f_code in LINE_READERS:
            callers.append(frame.f_back.f_globals.get("__name__"))

    old = sys.getprofile()
    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(old)
    return callers


@pytest.fixture(scope="module")
def data():
    sim = simulate_data(60, start="2025-01-01", end="2026-12-31", seed=8, programs=None)
    return sim.to_rebate_data()


def test_whatif_reads_lines_only_through_the_engine(data):
    def run():
        base = whatif_base(data)
        simulate_program(base, CANDIDATES, n_scenarios=20, seed=1)
        programs = rebatelab.load_programs(CANDIDATES)
        projected_basis(base, programs["G"])
        compare_designs(base, programs["R"], {"B": {"cap": 50}}, n_scenarios=20, seed=1)

    callers = _callers_of_line_readers(run)
    assert callers, "the hook saw no call: the test would pass whatever the code does"
    outside = sorted({c for c in callers if not c.startswith("rebatelab.engine.")})
    assert not outside, f"modules reading lines outside the engine: {outside}"


@pytest.mark.parametrize("name", WHATIF_MODULES)
def test_whatif_modules_name_no_lines(name):
    path = Path(rebatelab.__file__).parent / "simulation" / name
    tree = ast.parse(path.read_text())
    found = [
        f"line {node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(tree)
        if (isinstance(node, ast.Attribute) and node.attr == "transactions")
        or (isinstance(node, ast.Name) and node.id in {"prepare_lines", "lines_from_frame"})
        or (isinstance(node, ast.alias) and node.name in {"prepare_lines", "lines_from_frame"})
    ]
    assert not found, f"simulation/{name} reads lines: {found}"
