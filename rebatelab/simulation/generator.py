"""Synthetic B2B invoice data with a known ground truth.

The generator draws a customer base whose buying follows the models of Fader and Hardie,
writes it in the data-folder format of :mod:`rebatelab.io`, and keeps every customer's true
parameters so that a forecast can be scored against the *true expected spend* of any window
(:func:`expected_spend`).

Model (one customer ``i``; all draws vectorized over customers, orders and lines)
---------------------------------------------------------------------------------
- Order rate ``lambda_i ~ Gamma(r, mean = order_rate_mean)`` [orders/year] (Pareto/NBD).
- Lifetime: alive from ``birth_i`` (the start for existing customers, uniform over the window
  for the ``new_customer_share`` who arrive later) until ``birth_i + Exp(mu_i)``, with
  ``mu_i ~ Gamma(s, mean = 1 / lifetime_mean_years)`` (dropout).
- Intensity on day ``d``: ``lambda_i / 365 * m(d) * exp(g_i (d - start) / 365)`` while alive,
  where ``m`` is the calendar (monthly season x weekday x month/quarter-end peak, each month's
  days averaging that month's season weight) and ``g_i ~ Normal(0, trend_sd)`` the trend.
- Order value ``z ~ Gamma(p, scale = v_i / p)`` with mean ``v_i = p / nu_i``,
  ``nu_i ~ Gamma(q, gamma)`` (Gamma-Gamma), times a segment factor.
- Each order has ``1 + Poisson(kappa_i)`` lines; the value is split by flat Dirichlet weights;
  each line's category follows the customer's Dirichlet mix, its product the category's
  popularity; quantity = value / (list price x (1 - the customer's discount)).
- Returns: each order line is returned with probability ``return_prob`` after
  ``Geometric(1 / return_delay_days)`` days, fully (60%) or for a uniform 10-90% of its value;
  price-adjustment credit notes (``credit_note_prob`` per order, 2-10% of the order, quantity 0);
  free-goods lines with a zero price (``zero_price_prob`` per order).
- Threshold response (Oyer 1998): see :func:`threshold_response`; ``response_strength`` is
  the probability that a customer for whom closing the gap to the next tier is feasible and
  worth it does so (0 turns the response off).

References
----------
Fader, P. S., Hardie, B. G. S. and Lee, K. L. (2005). "Counting your customers" the easy way:
an alternative to the Pareto/NBD model. Marketing Science 24(2), 275-284.
Fader, P. S. and Hardie, B. G. S. (2013). The Gamma-Gamma model of monetary value.
http://brucehardie.com/notes/025/
Schmittlein, D. C., Morrison, D. G. and Colombo, R. (1987). Counting your customers: who are
they and what will they do next? Management Science 33(1), 1-24.
Oyer, P. (1998). Fiscal year ends and nonlinear incentive contracts: the effect on business
seasonality. Quarterly Journal of Economics 113(1), 149-185.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from rebatelab.errors import ParameterError
from rebatelab.simulation.params import (
    BRANDS,
    CATEGORIES,
    CATEGORY_PRICE,
    CREDIT_RANGE,
    FULL_RETURN_SHARE,
    PARTIAL_RETURN_RANGE,
    REGIONS,
    SEGMENT_SHARE,
    SEGMENT_VALUE,
    SEGMENTS,
    SimulationParams,
    _window,
    calendar_weights,
)
from rebatelab.simulation.truth import eligible_share, expected_spend

__all__ = ["SimulatedData", "simulate_data", "write_data_folder", "read_truth", "Truth"]


# --------------------------------------------------------------------------------------------
# ground truth
# --------------------------------------------------------------------------------------------
def _draw_customers(n: int, start, end, p: SimulationParams, rng) -> pd.DataFrame:
    """Draw every customer's true parameters (one row per customer)."""
    n_days = int((end - start).astype(int)) + 1
    lam = rng.gamma(p.order_rate_shape, p.order_rate_mean / p.order_rate_shape, n)
    gamma_scale = p.order_value_mean * (p.order_value_q - 1) / p.order_value_p
    nu = rng.gamma(p.order_value_q, 1.0 / gamma_scale, n)
    seg = rng.choice(len(SEGMENTS), size=n, p=np.asarray(SEGMENT_SHARE) / sum(SEGMENT_SHARE))
    mean_value = p.order_value_p / nu * np.asarray(SEGMENT_VALUE)[seg]
    new = rng.random(n) < p.new_customer_share
    birth = np.where(new, np.floor(rng.random(n) * n_days), 0.0)
    if np.isfinite(p.lifetime_mean_years):
        mu = rng.gamma(p.lifetime_shape, 1.0 / (p.lifetime_shape * p.lifetime_mean_years), n)
        life = rng.exponential(1.0, n) / mu * 365.0
    else:
        mu = np.zeros(n)
        life = np.full(n, np.inf)
    death = birth + life
    trend = rng.normal(0.0, p.trend_sd, n) if p.trend_sd > 0 else np.zeros(n)
    lines = (p.lines_per_order - 1.0) * rng.gamma(2.0, 0.5, n)
    discount = rng.uniform(0.0, p.max_discount, n)
    holding = p.holding_cost * np.exp(rng.normal(0.0, 0.5, n))
    width = len(str(n))
    ids = np.char.add("C", np.char.zfill(np.arange(1, n + 1).astype(str), max(5, width)))
    region = rng.integers(0, len(REGIONS), n)
    rep_per_region = max(1, p.n_reps // len(REGIONS))
    rep = (region * rep_per_region + rng.integers(0, rep_per_region, n)) % p.n_reps + 1
    in_group = rng.random(n) < p.buying_group_share
    group = rng.integers(1, p.n_buying_groups + 1, n)
    return pd.DataFrame(
        {
            "customer_id": ids,
            "segment": np.asarray(SEGMENTS)[seg],
            "region": np.asarray(REGIONS)[region],
            "rep": np.char.add("R", np.char.zfill(rep.astype(str), 2)),
            "buying_group": np.where(
                in_group,
                np.char.add("BG", np.char.zfill(group.astype(str), 2)),
                np.array(None, dtype=object),
            ),
            "order_rate": lam,  # [orders/year] at the start
            "mean_order_value": mean_value,  # [currency]
            "dropout_rate": mu,  # [1/year]
            "birth_day": birth.astype(int),  # [days after start]
            "death_day": death,  # [days after start], inf = never
            "trend": trend,  # [log change per year]
            "extra_lines": lines,  # mean lines per order - 1
            "discount": discount,  # [fraction of list price]
            "holding_cost": holding,  # [fraction of value bought ahead]
        }
    )


def _draw_products(n: int, p: SimulationParams, rng) -> pd.DataFrame:
    cat = np.sort(rng.integers(0, len(CATEGORIES), n))
    cat[: len(CATEGORIES)] = np.arange(min(n, len(CATEGORIES)))  # every category present
    cat = np.sort(cat)
    price = np.asarray(CATEGORY_PRICE)[cat] * np.exp(rng.normal(0.0, 0.6, n))
    brand = rng.choice(len(BRANDS), size=n, p=[0.22, 0.2, 0.18, 0.15, 0.1, 0.15])
    popularity = rng.pareto(1.2, n) + 0.05
    width = max(4, len(str(n)))
    return pd.DataFrame(
        {
            "product_id": np.char.add("P", np.char.zfill(np.arange(1, n + 1).astype(str), width)),
            "category": np.asarray(CATEGORIES)[cat],
            "brand": np.asarray(BRANDS)[brand],
            "list_price": np.round(price, 2),
            "popularity": popularity,
        }
    )


def _categorical(cum: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index drawn from each row's cumulative probabilities ``cum`` (rows x K) by ``u``."""
    return np.minimum((cum < u[:, None]).sum(axis=1), cum.shape[1] - 1)


# --------------------------------------------------------------------------------------------
# orders and lines
# --------------------------------------------------------------------------------------------
def _draw_orders(truth: pd.DataFrame, days: np.ndarray, p: SimulationParams, rng):
    """Order days (offset from start) and values by thinning a calendar-shaped proposal."""
    n_days = len(days)
    m = calendar_weights(days, params=p)
    cm = np.concatenate([[0.0], np.cumsum(m)])
    lam = truth["order_rate"].to_numpy() / 365.0
    g = truth["trend"].to_numpy() / 365.0
    b = truth["birth_day"].to_numpy()
    e = np.minimum(np.ceil(truth["death_day"].to_numpy()), n_days).astype(int)  # exclusive
    e = np.maximum(e, b)
    tmax = np.exp(np.maximum(g * b, g * np.maximum(e - 1, b)))
    expected = lam * tmax * (cm[e] - cm[b])
    n_prop = rng.poisson(expected)
    cust = np.repeat(np.arange(len(truth)), n_prop)
    u = cm[b][cust] + rng.random(cust.size) * (cm[e] - cm[b])[cust]
    day = np.clip(np.searchsorted(cm, u, side="right") - 1, b[cust], np.maximum(e[cust] - 1, 0))
    # thinning: trend, and death inside the last (partial) day
    accept = rng.random(cust.size) < np.exp(g[cust] * day) / tmax[cust]
    accept &= day < truth["death_day"].to_numpy()[cust]
    cust, day = cust[accept], day[accept]
    mv = truth["mean_order_value"].to_numpy()[cust]
    value = rng.gamma(p.order_value_p, mv / p.order_value_p)
    order = np.lexsort((cust, day))
    return cust[order], day[order], value[order]


def _draw_lines(truth, products, cust, day, value, p: SimulationParams, rng):
    """Split orders into invoice lines over the customers' category mixes."""
    n_cust = len(truth)
    n_lines = 1 + rng.poisson(truth["extra_lines"].to_numpy()[cust])
    o = np.repeat(np.arange(cust.size), n_lines)
    w = rng.exponential(1.0, o.size)
    w /= np.bincount(o, weights=w, minlength=cust.size)[o]
    amount = np.maximum(np.round(value[o] * w, 2), 0.01)
    # category mix per customer: Dirichlet around the catalogue's category shares
    cat_codes = pd.Categorical(products["category"], categories=CATEGORIES).codes
    share = np.bincount(cat_codes, minlength=len(CATEGORIES)) / len(products)
    alpha = p.category_concentration * len(CATEGORIES) * np.maximum(share, 1e-3)
    mix = rng.gamma(np.broadcast_to(alpha, (n_cust, len(CATEGORIES))))
    mix /= mix.sum(axis=1, keepdims=True)
    cat = _categorical(np.cumsum(mix, axis=1)[cust[o]], rng.random(o.size))
    # product within category by popularity: category c's products share (c, c + 1]
    pop = products["popularity"].to_numpy()
    cw = pd.Series(pop).groupby(cat_codes).cumsum().to_numpy().copy()
    cw /= np.bincount(cat_codes, weights=pop, minlength=len(CATEGORIES))[cat_codes]
    last = np.r_[cat_codes[1:] != cat_codes[:-1], True]
    cw[last] = 1.0
    key = cat_codes + cw
    prod = np.searchsorted(key, cat + rng.random(o.size), side="left")
    prod = np.minimum(prod, len(products) - 1)
    price = products["list_price"].to_numpy()[prod] * (1 - truth["discount"].to_numpy()[cust[o]])
    qty = np.maximum(1, np.round(amount / price))
    return o, prod, qty, amount, mix


def _credits_and_extras(cust, day, value, o, prod, qty, amount, p: SimulationParams, rng):
    """Returns, price-adjustment credit notes and free-goods lines (arrays of new lines)."""
    n_orders = cust.size
    # returns: one credit note per order with returned lines, one delay per order
    delay = rng.geometric(1.0 / p.return_delay_days, n_orders)
    ret = rng.random(o.size) < p.return_prob
    full = rng.random(o.size) < FULL_RETURN_SHARE
    frac = np.where(full, 1.0, rng.uniform(*PARTIAL_RETURN_RANGE, o.size))
    r_o = o[ret]
    r_amount = -np.maximum(np.round(amount[ret] * frac[ret], 2), 0.01)
    r_qty = -np.minimum(qty[ret], np.maximum(1, np.round(qty[ret] * frac[ret])))
    r_day = day[r_o] + delay[r_o]
    # price-adjustment credit notes (quantity 0) on the order's first line's product
    first_line = np.searchsorted(o, np.arange(n_orders))
    cn = np.flatnonzero(rng.random(n_orders) < p.credit_note_prob)
    c_amount = -np.maximum(np.round(value[cn] * rng.uniform(*CREDIT_RANGE, cn.size), 2), 0.01)
    c_day = day[cn] + delay[cn]
    c_prod = prod[first_line[cn]]
    # free goods: an extra line with a zero amount on the order's invoice
    zp = np.flatnonzero(rng.random(n_orders) < p.zero_price_prob)
    z_prod = prod[first_line[zp]]
    z_qty = rng.integers(1, 6, zp.size).astype(float)
    return (
        (r_o, r_day, prod[ret], r_qty, r_amount),
        (cn, c_day, c_prod, c_amount),
        (zp, z_prod, z_qty),
    )


def _ids(prefix: str, k: np.ndarray, width: int = 7) -> np.ndarray:
    """``prefix`` + the numbers ``k`` zero-padded to ``width`` digits (empty for no ``k``)."""
    k = np.asarray(k)
    if k.size == 0:  # np.char.zfill takes a maximum, which an empty array has not
        return np.empty(k.shape, dtype=f"<U{len(prefix) + width}")
    return np.char.add(prefix, np.char.zfill(k.astype(str), width))


@dataclass
class SimulatedData:
    """A simulated data folder in memory, with its ground truth.

    Attributes
    ----------
    transactions, customers, products, enrollments : DataFrame
        The tables of the data-folder format (see :mod:`rebatelab.data.tables`).
    programs_yaml : str
        The program file text (empty when no programs were asked for).
    truth : DataFrame
        One row per customer: the true parameters (``order_rate`` [orders/year],
        ``mean_order_value`` [currency], ``dropout_rate`` [1/year], ``birth_day``,
        ``death_day`` [days after ``start``], ``trend`` [log/year], ...).
    params : SimulationParams
    start, end : numpy.datetime64
        The simulated window (inclusive).
    seed : int
    response : DataFrame
        One row per threshold response: program, customer, purchase added [basis unit and
        currency], and the value taken from later orders.
    product_truth : DataFrame
        ``product_id, category, within_category_share``: the probability that a line of a
        category is for the product (with the customers' ``mix_<category>`` columns in
        ``truth`` this gives the true share of any product set, :func:`eligible_share`).
    """

    transactions: pd.DataFrame
    customers: pd.DataFrame
    products: pd.DataFrame
    enrollments: pd.DataFrame
    programs_yaml: str
    truth: pd.DataFrame
    params: SimulationParams
    start: np.datetime64
    end: np.datetime64
    seed: int
    response: pd.DataFrame = field(default_factory=pd.DataFrame)
    product_truth: pd.DataFrame = field(default_factory=pd.DataFrame)

    def ground_truth(self) -> Truth:
        """The ground truth as :func:`read_truth` returns it (with ``expected_spend``)."""
        return Truth(self.truth, self.product_truth, self.params, self.start)

    def to_rebate_data(self):
        """Validate the tables with the engine's loader; returns a :class:`RebateData`."""
        from rebatelab.data.tables import RebateData

        return RebateData.from_frames(
            self.transactions,
            self.customers,
            self.products,
            self.enrollments,
            source="<simulated>",
        )


def simulate_data(
    n_customers: int = 300,
    *,
    start="2024-10-01",
    end="2026-09-30",
    seed: int = 0,
    n_products: int = 200,
    programs="default",
    params: SimulationParams | None = None,
    **overrides,
) -> SimulatedData:
    """Simulate a B2B customer base and its invoice lines.

    Parameters
    ----------
    n_customers : int
        Number of customers (existing at the start plus those arriving later), >= 1.
    start, end : date-like
        First and last day of the simulated window (inclusive).
    seed : int
        Seed of ``numpy.random.default_rng``: the same seed gives identical tables.
    n_products : int
        Number of products in the catalogue, >= the number of categories (8).
    programs : "default", None, str, Path or ProgramSet
        Programs the customers respond to and that are written as ``programs.yaml``.
        ``"default"`` builds a set exercising every program feature over the last
        calendar year that ends inside the window (see :func:`default_programs`); None
        writes no programs and has no threshold response.
    params : SimulationParams, optional
        Model parameters; defaults calibrated on Online Retail.
    **overrides
        Parameters of :class:`SimulationParams` to change, e.g. ``response_strength=0``.

    Returns
    -------
    SimulatedData

    Raises
    ------
    ParameterError
        Naming the parameter: a negative count, end before start, a probability outside
        [0, 1], an unknown parameter.

    Examples
    --------
    >>> sim = simulate_data(20, start="2025-01-01", end="2025-03-31", seed=1, programs=None)
    >>> sorted(sim.transactions.columns)[:3]
    ['customer_id', 'date', 'invoice_id']

    A small base over a short window may place no order at all: the tables are then empty
    and valid.

    >>> quiet = simulate_data(5, start="2025-01-01", end="2025-01-31", seed=1, programs=None)
    >>> len(quiet.transactions), len(quiet.to_rebate_data().customers)
    (0, 5)
    """
    if not isinstance(n_customers, int | np.integer) or n_customers < 1:
        raise ParameterError(f"n_customers must be a positive integer; got {n_customers!r}")
    if not isinstance(n_products, int | np.integer) or n_products < len(CATEGORIES):
        raise ParameterError(
            f"n_products must be an integer >= {len(CATEGORIES)} (one per category); "
            f"got {n_products!r}"
        )
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ParameterError(f"seed must be a non-negative integer; got {seed!r}")
    p = (
        (params or SimulationParams()).replace(**overrides)
        if overrides
        else (params or SimulationParams())
    )
    s, e = _window(start, end)
    rng = np.random.default_rng(seed)
    days = np.arange(s, e + 1, dtype="datetime64[D]")

    truth = _draw_customers(int(n_customers), s, e, p, rng)
    products = _draw_products(int(n_products), p, rng)
    cust, day, value = _draw_orders(truth, days, p, rng)
    o, prod, qty, amount, mix = _draw_lines(truth, products, cust, day, value, p, rng)
    (r_o, r_day, r_prod, r_qty, r_amount), (cn, c_day, c_prod, c_amount), (zp, z_prod, z_qty) = (
        _credits_and_extras(cust, day, value, o, prod, qty, amount, p, rng)
    )

    n_orders = cust.size
    inv = _ids("INV", np.arange(1, n_orders + 1))
    line_no = np.arange(o.size) - np.searchsorted(o, o) + 1
    n_lines = np.bincount(o, minlength=n_orders)
    # credit notes: one per order with returns or a price adjustment
    r_or_c = np.union1d(np.unique(r_o), cn)
    cn_id = np.full(n_orders, "", dtype=object)
    cn_id[r_or_c] = _ids("CN", np.arange(1, r_or_c.size + 1))
    r_line = np.arange(r_o.size) - np.searchsorted(r_o, r_o) + 1
    c_line = np.bincount(r_o, minlength=n_orders)[cn] + 1
    parts = {
        "invoice_id": [inv[o], cn_id[r_o], cn_id[cn], inv[zp]],
        "day": [day[o], r_day, c_day, day[zp]],
        "cust": [cust[o], cust[r_o], cust[cn], cust[zp]],
        "prod": [prod, r_prod, c_prod, z_prod],
        "quantity": [qty, r_qty, np.zeros(cn.size), z_qty],
        "net_amount": [amount, r_amount, c_amount, np.zeros(zp.size)],
        "line_no": [line_no, r_line, c_line, n_lines[zp] + 1],
        "order": [o, r_o, cn, zp],
    }
    cat = {k: np.concatenate(v) for k, v in parts.items()}
    keep = cat["day"] < len(days)  # returns after the window end are not yet booked
    cat = {k: v[keep] for k, v in cat.items()}
    tx = pd.DataFrame(
        {
            "invoice_id": cat["invoice_id"].astype(str),
            "date": days[0] + cat["day"].astype("timedelta64[D]"),
            # dtype "str" also when there are no lines (an empty object array would not say)
            "customer_id": pd.array(truth["customer_id"].to_numpy()[cat["cust"]], dtype="str"),
            "product_id": pd.array(products["product_id"].to_numpy()[cat["prod"]], dtype="str"),
            "line_no": cat["line_no"].astype(np.int64),
            "quantity": cat["quantity"],
            "net_amount": cat["net_amount"],
        }
    )
    tx = tx.sort_values(["date", "invoice_id", "line_no"], kind="stable").reset_index(drop=True)
    customers = truth[["customer_id", "segment", "region", "rep", "buying_group"]].copy()
    customers.insert(1, "name", np.char.add("Customer ", truth["customer_id"].to_numpy()))
    truth = truth.drop(columns=["segment", "region", "rep", "buying_group"])
    birth = days[0] + truth["birth_day"].to_numpy().astype("timedelta64[D]")
    truth.insert(1, "birth_date", birth.astype("datetime64[ms]"))
    for k, c in enumerate(CATEGORIES):
        truth[f"mix_{c}"] = mix[:, k]  # [fraction of the customer's order value]
    prods = products[["product_id", "category", "brand", "list_price"]].copy()
    pop = products["popularity"].to_numpy()
    in_cat = pop / products.groupby("category")["popularity"].transform("sum").to_numpy()
    product_truth = pd.DataFrame(
        {
            "product_id": products["product_id"],
            "category": products["category"],
            "within_category_share": in_cat,  # [fraction of the category's value]
        }
    )
    sim = SimulatedData(
        transactions=tx,
        customers=customers,
        products=prods,
        enrollments=pd.DataFrame(
            {"program_id": pd.Series(dtype=str), "customer_id": pd.Series(dtype=str)}
        ),
        programs_yaml="",
        truth=truth,
        params=p,
        start=s,
        end=e,
        seed=int(seed),
        product_truth=product_truth,
    )
    if programs is None:
        return sim
    from rebatelab.simulation.designs import default_programs
    from rebatelab.simulation.response import apply_response

    if isinstance(programs, str) and programs == "default":
        programs_yaml, enrollments = default_programs(sim, rng=rng)
    else:
        from rebatelab.programs.terms import load_programs

        programs_yaml = load_programs(programs).to_yaml()
        enrollments = sim.enrollments
    sim.programs_yaml = programs_yaml
    sim.enrollments = enrollments
    if p.response_strength > 0:
        sim = apply_response(sim, rng=rng)
    return sim


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------
TRUTH_DIR = "truth"


def write_data_folder(sim: SimulatedData, out, *, fmt: str = "parquet") -> Path:
    """Write a simulated data folder: the four tables, ``programs.yaml`` and ``truth/``.

    Parameters
    ----------
    sim : SimulatedData
    out : str or Path
        Folder to write (created if needed; existing table files are replaced).
    fmt : {"parquet", "csv"}
        File format of the tables. The ground truth is always Parquet plus JSON.

    Returns
    -------
    Path
        The folder. ``truth/customers_truth.parquet`` holds the customers' true parameters,
        ``truth/products_truth.parquet`` the products' shares within their category,
        ``truth/simulation.json`` the window, seed and :class:`SimulationParams`, and
        ``truth/responses.csv`` the threshold responses; the engine's loader ignores them.
    """
    if fmt not in ("parquet", "csv"):
        raise ParameterError(f"fmt must be 'parquet' or 'csv'; got {fmt!r}")
    out = Path(out)
    (out / TRUTH_DIR).mkdir(parents=True, exist_ok=True)
    tables = {
        "transactions": sim.transactions,
        "customers": sim.customers,
        "products": sim.products,
        "enrollments": sim.enrollments,
    }
    for name, df in tables.items():
        for other in ("csv", "parquet"):
            if other != fmt and (out / f"{name}.{other}").exists():
                (out / f"{name}.{other}").unlink()
        if fmt == "parquet":
            df.to_parquet(out / f"{name}.parquet", index=False, compression="zstd")
        else:
            df.to_csv(out / f"{name}.csv", index=False, date_format="%Y-%m-%d")
    if sim.programs_yaml:
        (out / "programs.yaml").write_text(sim.programs_yaml)
    sim.truth.to_parquet(out / TRUTH_DIR / "customers_truth.parquet", index=False)
    sim.product_truth.to_parquet(out / TRUTH_DIR / "products_truth.parquet", index=False)
    meta = {
        "start": str(sim.start),
        "end": str(sim.end),
        "seed": sim.seed,
        "params": {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in dataclasses.asdict(sim.params).items()
        },
    }
    (out / TRUTH_DIR / "simulation.json").write_text(json.dumps(meta, indent=2) + "\n")
    if len(sim.response):
        sim.response.to_csv(out / TRUTH_DIR / "responses.csv", index=False)
    return out


class Truth(NamedTuple):
    """The ground truth of a simulated data folder (:func:`read_truth`)."""

    customers: pd.DataFrame  #: the customers' true parameters (``SimulatedData.truth``)
    products: pd.DataFrame  #: ``SimulatedData.product_truth``
    params: SimulationParams
    start: np.datetime64  #: the window start the day offsets of ``customers`` count from

    def expected_spend(self, start, end, *, products=None, net: bool = True) -> pd.Series:
        """True expected spend per customer over [start, end] [currency].

        Parameters
        ----------
        start, end : date-like
            The window, inclusive.
        products : iterable of product ids or boolean mask, optional
            Only the spend on these products (:func:`eligible_share`); all when None.
        net : bool
            Net of returns and credit notes (see :func:`expected_spend`).
        """
        out = expected_spend(
            self.customers, start, end, params=self.params, origin=self.start, net=net
        )
        if products is not None:
            out = out * eligible_share(self.customers, self.products, products).to_numpy()
        return out


def read_truth(folder) -> Truth:
    """Read the ground truth written by :func:`write_data_folder`.

    Returns
    -------
    Truth
        ``(customers, products, params, start)``.
    """
    folder = Path(folder) / TRUTH_DIR
    if not (folder / "simulation.json").exists():
        raise ParameterError(f"no ground truth in {folder} (not a simulated data folder?)")
    meta = json.loads((folder / "simulation.json").read_text())
    params: dict[str, Any] = {
        k: (tuple(v) if isinstance(v, list) else v) for k, v in meta["params"].items()
    }
    customers = pd.read_parquet(folder / "customers_truth.parquet")
    products = pd.read_parquet(folder / "products_truth.parquet")
    return Truth(customers, products, SimulationParams(**params), np.datetime64(meta["start"], "D"))
