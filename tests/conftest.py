"""Shared fixtures: small hand-built data folders whose answers are computed by hand."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rebatelab.datasets import load_sample, sample_path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = sample_path()  # the bundled sample (rebatelab/datasets/sample)


def make_frames():
    """Five customers, four products, a handful of lines in 2024 and 2025."""
    customers = pd.DataFrame(
        {
            "customer_id": ["A", "B", "C", "D", "E"],
            "segment": ["Contractor", "Contractor", "Retail", "Contractor", "Retail"],
            "rep": ["Ann", "Ann", "Bob", "Bob", "Bob"],
            "buying_group": ["G1", "G1", None, None, "G1"],
        }
    )
    products = pd.DataFrame(
        {
            "product_id": ["P1", "P2", "P3", "P4"],
            "category": ["Tools", "Tools", "Fasteners", "Paint"],
            "brand": ["Acme", "House", "Acme", "Acme"],
        }
    )
    rows = [
        # invoice, date, customer, product, qty, amount
        ("I1", "2024-03-01", "A", "P1", 10, 1000.00),
        ("I2", "2024-06-01", "B", "P3", 5, 500.00),
        ("I3", "2025-01-15", "A", "P1", 100, 12000.00),
        ("I3", "2025-01-15", "A", "P2", 10, 800.00),  # House brand
        ("I4", "2025-02-10", "A", "P4", 1, 50.00),  # Paint: not eligible for TOOLS
        ("I5", "2025-03-01", "B", "P3", 30, 3000.00),
        ("I6", "2025-03-05", "B", "P3", -3, -300.00),  # credit note
        ("I7", "2025-04-01", "C", "P1", 7, 700.00),
        ("I8", "2025-05-01", "D", "P1", 20, 2000.00),
        ("I9", "2025-06-01", "E", "P3", 60, 4000.00),
        ("I10", "2025-12-31", "A", "P3", 1, 100.00),
        ("I11", "2026-01-01", "A", "P3", 1, 100.00),  # after the period
    ]
    tx = pd.DataFrame(
        rows, columns=["invoice_id", "date", "customer_id", "product_id", "quantity", "net_amount"]
    )
    enrollments = pd.DataFrame(
        {
            "program_id": ["TOOLS", "TOOLS", "POOL", "POOL", "POOL", "GROW", "GROW"],
            "customer_id": ["A", "B", "A", "B", "E", "A", "B"],
        }
    )
    return tx, customers, products, enrollments


PROGRAMS_YAML = """
programs:
  - id: TOOLS
    start: 2025-01-01
    end: 2025-12-31
    tiers: [{from: 1000, rate: 0.01}, {from: 10000, rate: 0.03}]
    products: {category: [Tools, Fasteners]}
    exclude_products: {brand: [House]}
    customers: {segment: [Contractor]}
    cap: 300
  - id: POOL
    start: 2025-01-01
    end: 2025-12-31
    method: incremental
    tiers: [{from: 0, rate: 0.01}, {from: 10000, rate: 0.02}]
    pool: buying_group
  - id: GROW
    start: 2025-01-01
    end: 2025-12-31
    tiers: [{from: 0.10, rate: 0.02}, {from: 1.0, rate: 0.05}]
    growth: {rebate_on: total}
  - id: ALL
    start: 2025-01-01
    end: 2025-12-31
    basis: quantity
    tiers: [{from: 50, amount: 100}, {from: 100, amount: 250}]
    enrollment: automatic
    min_payout: 150
"""


@pytest.fixture
def frames():
    return make_frames()


@pytest.fixture
def small_data():
    from rebatelab import RebateData

    tx, cu, pr, en = make_frames()
    return RebateData.from_frames(tx, cu, pr, en)


@pytest.fixture
def small_programs():
    from rebatelab import load_programs

    return load_programs(PROGRAMS_YAML)


@pytest.fixture
def sample():
    """The bundled sample, loaded afresh for each test: ``(data, programs)``."""
    return load_sample()


def write_folder(path: Path, tx, cu, pr, en=None, *, fmt="csv") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    tables = {"transactions": tx, "customers": cu, "products": pr}
    if en is not None:
        tables["enrollments"] = en
    for name, df in tables.items():
        if fmt == "csv":
            df.to_csv(path / f"{name}.csv", index=False)
        else:
            df.to_parquet(path / f"{name}.parquet", index=False)
    return path
