"""The UCI Online Retail data set as a rebatelab data folder, and quarterly programs for it.

The file is not shipped: a user brings their own copy (the UCI ``.xlsx``, a CSV with the same
columns, or a Parquet conversion). Columns as published: ``InvoiceNo, StockCode,
Description, Quantity, InvoiceDate, UnitPrice, CustomerID, Country``.

Conversion rules (each counted in the returned report; nothing is dropped silently):

- a line's ``net_amount`` = ``Quantity * UnitPrice`` [GBP], rounded to pence;
- cancellations (invoice numbers starting with ``C``, negative quantities) are kept as
  returns (credit notes): they reduce the basis;
- lines without ``CustomerID`` (anonymous checkouts) are **excluded** and counted;
- lines that repeat an earlier line exactly (the same item keyed twice on one invoice) are
  kept and told apart by a ``line`` number within the invoice;
- products whose ``StockCode`` does not start with a digit (postage, fees, manual
  adjustments, bank charges...) get ``category = service``, the others ``merchandise``;
- customers get their ``country``, and ``buying_group`` = the country outside the UK.

Reference: Chen, D., Sain, S. L. and Guo, K. (2012). Data mining for the online retail
industry: a case study of RFM model-based customer segmentation using data mining.
*Journal of Database Marketing and Customer Strategy Management* 19(3), 197-208.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from rebatelab.data.tables import RebateData
from rebatelab.errors import DataValidationError
from rebatelab.programs.terms import ProgramSet, load_programs

__all__ = [
    "UCI_COLUMNS",
    "default_path",
    "read_online_retail",
    "to_rebate_data",
    "quarterly_programs",
    "write_data_folder",
]


UCI_COLUMNS = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)


#: Default tiers of the quarterly net-sales programs: (from [GBP], rate [fraction]).
NET_TIERS = ((500.0, 0.01), (1_500.0, 0.02), (5_000.0, 0.03))


#: Default tiers of the quarterly quantity programs: (from [units], rate [fraction]).
QTY_TIERS = ((300.0, 0.01), (1_000.0, 0.02), (3_000.0, 0.03))


def default_path() -> Path:
    """Where the project expects the file: ``<project root>/../shared/data/``."""
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "online_retail.parquet"


def read_online_retail(path=None) -> pd.DataFrame:
    """Read the UCI Online Retail file (Parquet, xlsx or CSV with the UCI columns).

    Parameters
    ----------
    path : str or Path, optional
        The file; default :func:`default_path`.

    Raises
    ------
    DataValidationError
        The file is missing, unreadable, or lacks UCI columns.
    """
    path = Path(path) if path is not None else default_path()
    if not path.exists():
        raise DataValidationError(
            f"Online Retail file not found: {path} (download the UCI 'Online Retail' data set "
            "and pass its path)"
        )
    try:
        if path.suffix in (".xlsx", ".xls"):
            raw = pd.read_excel(path)
        elif path.suffix == ".csv":
            raw = pd.read_csv(path, dtype={"InvoiceNo": str, "StockCode": str})
        else:
            raw = pd.read_parquet(path)
    except (OSError, ValueError, ImportError) as exc:
        raise DataValidationError(f"{path}: cannot be read: {exc}") from None
    missing = [c for c in UCI_COLUMNS if c not in raw.columns]
    if missing:
        raise DataValidationError(
            f"{path}: missing UCI column(s) {missing}; found {list(raw.columns)}"
        )
    return raw


def to_rebate_data(raw: pd.DataFrame, *, source: str = "online_retail"):
    """Convert UCI Online Retail lines to a validated :class:`RebateData`.

    Parameters
    ----------
    raw : DataFrame
        Lines with the UCI columns (:func:`read_online_retail`).
    source : str
        Name used in messages.

    Returns
    -------
    data : RebateData
    report : dict
        ``lines_in``, ``lines_without_customer`` and their ``amount_without_customer``
        [GBP] (excluded), ``lines_kept``, ``cancellation_lines`` and ``cancellation_amount``
        [GBP] (kept as returns), ``repeated_lines`` (numbered apart), ``customers``,
        ``products``, ``service_products``.
    """
    df = raw.loc[:, list(UCI_COLUMNS)].copy()
    amount = np.round(
        df["Quantity"].to_numpy(dtype=float) * df["UnitPrice"].to_numpy(dtype=float), 2
    )
    no_cust = df["CustomerID"].isna().to_numpy()
    inv = df["InvoiceNo"].astype("string").str.strip()
    cancel = inv.str.upper().str.startswith("C").fillna(False).to_numpy()
    keep = ~no_cust
    k = df.loc[keep].copy()
    k["net_amount"] = amount[keep]
    cust = pd.to_numeric(k["CustomerID"]).astype("int64").astype("string")
    prod = k["StockCode"].astype("string").str.strip().str.upper()
    line = k.groupby([inv[keep].to_numpy(), prod.to_numpy()], sort=False).cumcount() + 1
    tx = pd.DataFrame(
        {
            "invoice_id": inv[keep].to_numpy(),
            "line": line.to_numpy(dtype=np.int64),
            "date": pd.to_datetime(k["InvoiceDate"]).dt.normalize().to_numpy(),
            "customer_id": cust.to_numpy(),
            "product_id": prod.to_numpy(),
            "quantity": k["Quantity"].to_numpy(dtype=float),
            "net_amount": k["net_amount"].to_numpy(dtype=float),
        }
    )
    repeated = int((tx["line"] > 1).sum())
    country = (
        pd.DataFrame({"customer_id": cust.to_numpy(), "country": k["Country"].astype("string")})
        .drop_duplicates("customer_id", keep="last")
        .reset_index(drop=True)
    )
    bg = country["country"].where(country["country"] != "United Kingdom")
    customers = country.assign(buying_group=bg)
    products = (
        pd.DataFrame(
            {
                "product_id": prod.to_numpy(),
                "description": k["Description"].astype("string").to_numpy(),
            }
        )
        .drop_duplicates("product_id")
        .reset_index(drop=True)
    )
    merch = products["product_id"].str.match(r"^[0-9]").fillna(False).to_numpy()
    products["category"] = np.where(merch, "merchandise", "service")
    data = RebateData.from_frames(tx, customers, products, source=source)
    report = {
        "lines_in": int(len(df)),
        "lines_without_customer": int(no_cust.sum()),
        "amount_without_customer": round(float(amount[no_cust].sum()), 2),
        "lines_kept": int(keep.sum()),
        "cancellation_lines": int((cancel & keep).sum()),
        "cancellation_amount": round(float(amount[cancel & keep].sum()), 2),
        "repeated_lines": repeated,
        "customers": int(len(customers)),
        "products": int(len(products)),
        "service_products": int((~merch).sum()),
    }
    return data, report


def quarterly_programs(
    year: int = 2011,
    quarters=(1, 2, 3),
    *,
    net_tiers=NET_TIERS,
    quantity_tiers=QTY_TIERS,
) -> ProgramSet:
    """Quarterly tiered programs for Online Retail (automatic enrollment, merchandise only).

    Parameters
    ----------
    year : int
    quarters : sequence of int
        Quarters (1-4) to define; the data end on 2011-12-09, so Q4 2011 is incomplete.
    net_tiers : sequence of (from, rate)
        Retroactive net-sales tiers [GBP, fraction]; None for no net-sales programs.
    quantity_tiers : sequence of (from, rate)
        Retroactive quantity tiers [units, fraction]; None for no quantity programs.

    Returns
    -------
    ProgramSet
        ``RETAIL-<year>Q<q>`` (net sales) and ``UNITS-<year>Q<q>`` (quantity) per quarter.
    """
    out = []
    for q in quarters:  # a loop over a handful of quarters
        start = pd.Timestamp(year=year, month=3 * (q - 1) + 1, day=1)
        end = start + pd.offsets.QuarterEnd(0)
        for pid, basis, tiers_ in (
            (f"RETAIL-{year}Q{q}", "net_sales", net_tiers),
            (f"UNITS-{year}Q{q}", "quantity", quantity_tiers),
        ):
            if tiers_ is None:
                continue
            out.append(
                {
                    "id": pid,
                    "name": f"Online Retail {basis} rebate, Q{q} {year}",
                    "start": start.date(),
                    "end": end.date(),
                    "basis": basis,
                    "method": "retroactive",
                    "tiers": [{"from": float(f), "rate": float(r)} for f, r in tiers_],
                    "products": {"category": ["merchandise"]},
                    "enrollment": "automatic",
                }
            )
    return load_programs(out)


def write_data_folder(data: RebateData, folder, *, programs: ProgramSet | None = None) -> Path:
    """Write a data folder (Parquet tables, plus ``programs.yaml`` when given)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data.transactions.to_parquet(folder / "transactions.parquet", index=False)
    data.customers.to_parquet(folder / "customers.parquet", index=False)
    data.products.to_parquet(folder / "products.parquet", index=False)
    if programs is not None:
        (folder / "programs.yaml").write_text(programs.to_yaml())
    return folder
