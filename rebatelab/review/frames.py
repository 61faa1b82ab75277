"""Shared steps of the review lists: inputs, key alignment, attributes, filters, pool keys.

The review lists read stage one's :class:`~rebatelab.engine.stage_one.Reduction` (the sums
of the lines, never the lines): :class:`Inputs` takes what the caller gave (a Reduction, or a
RebateData with programs and as-of day, from which it reduces once, when a list needs it).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from rebatelab.engine.stage_one import Reduction, reduce
from rebatelab.errors import ParameterError
from rebatelab.programs.terms import ProgramSet

__all__ = ["Filters", "filter_rows", "align"]


ATTRIBUTES = ("name", "rep", "region", "segment")
KEYS = ["program_id", "customer_id"]


# --------------------------------------------------------------------------------------------
# Inputs: a Reduction, or data + programs + as_of reduced once
# --------------------------------------------------------------------------------------------
def program_set(programs, *, what: str = "programs") -> ProgramSet | None:
    """``programs`` as a ProgramSet: a ProgramSet, a Reduction's programs, or None.

    Raises
    ------
    ParameterError
        Anything else (a path or YAML text: read it with :func:`rebatelab.load_programs`).
    """
    if programs is None or isinstance(programs, ProgramSet):
        return programs
    if isinstance(programs, Reduction):
        return programs.programs
    raise ParameterError(
        f"{what}= must be a ProgramSet (or a Reduction), got {type(programs).__name__}; "
        "read a program file with rebatelab.load_programs"
    )


class Inputs:
    """What a review list was given, with stage one's Reduction built at most once.

    Parameters
    ----------
    data : RebateData, Reduction or None
        A Reduction gives the programs, the as-of day and the customers; a RebateData gives
        the customers and, with ``programs`` and ``as_of``, is reduced when :attr:`reduction`
        is first asked for.
    programs : ProgramSet, optional
        Must be the Reduction's when ``data`` is one.
    as_of : date-like, optional
        Must be the Reduction's day when ``data`` is one.
    """

    def __init__(self, data, programs=None, as_of=None):
        self._red = None
        self._data = None
        if isinstance(data, Reduction):
            self._red = data
            given = program_set(programs)
            if given is not None and list(given.ids) != list(data.programs.ids):
                raise ParameterError(
                    "programs= differ from the reduction's programs; pass programs=None "
                    "with a Reduction (or reduce again with the other programs)"
                )
            if as_of is not None and pd.Timestamp(as_of).normalize() != data.as_of:
                raise ParameterError(
                    f"as_of {as_of} differs from the reduction's {data.as_of.date()}; pass "
                    "as_of=None with a Reduction (or reduce again for another date)"
                )
            self.programs = data.programs
            self.as_of = data.as_of
        else:
            self._data = data
            self.programs = program_set(programs)
            self.as_of = None if as_of is None else pd.Timestamp(as_of).normalize()
        self.customers = None if data is None else data.customers

    @property
    def can_reduce(self) -> bool:
        """Whether :attr:`reduction` is available (a Reduction, or data, programs and as_of)."""
        return self._red is not None or (
            self._data is not None and self.programs is not None and self.as_of is not None
        )

    @property
    def reduction(self) -> Reduction:
        """Stage one's result: the one given, or ``reduce(data, programs, as_of)`` once."""
        if self._red is None:
            if not self.can_reduce:
                raise ParameterError("this needs data=, programs= and as_of= (or a Reduction)")
            self._red = reduce(self._data, self.programs, self.as_of)
        return self._red


# --------------------------------------------------------------------------------------------
# Aligning accrual and forecast by key
# --------------------------------------------------------------------------------------------
def _codes(*columns: pd.Series) -> list[np.ndarray]:
    """Integer codes of the values of several columns, shared across them (as text)."""
    values = np.concatenate([c.astype(str).to_numpy(dtype=object) for c in columns])
    codes = pd.factorize(values)[0]
    return np.split(codes, np.cumsum([len(c) for c in columns])[:-1])


def _pair_keys(*frames: pd.DataFrame, cols=KEYS) -> list[np.ndarray]:
    """One int64 per row of each frame, equal exactly when the rows' ``cols`` values are."""
    first = _codes(*(f[cols[0]] for f in frames))
    second = _codes(*(f[cols[1]] for f in frames))
    width = max([int(c.max()) + 1 if len(c) else 1 for c in second])
    return [a.astype(np.int64) * width + b for a, b in zip(first, second, strict=True)]


def _key_index(frame: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_arrays([frame[c].astype(str).to_numpy() for c in KEYS], names=KEYS)


def _same_keys(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether ``a`` and ``b`` hold the same keys row by row (e.g. a forecast of ``a``)."""
    if len(a) != len(b):
        return False
    try:
        return all(
            bool(np.array_equal(a[c].astype(object).to_numpy(), b[c].astype(object).to_numpy()))
            for c in KEYS
        )
    except TypeError:  # missing keys compare as NA: take the general path
        return False


def align(accrual: pd.DataFrame, other: pd.DataFrame, *, what: str = "forecast") -> np.ndarray:
    """Row of ``other`` for each accrual row, matched on ``(program_id, customer_id)``.

    Parameters
    ----------
    accrual : DataFrame
        Rows with ``program_id`` and ``customer_id`` (unique pairs).
    other : DataFrame
        E.g. a forecast: one row per pair of the accrual (any order).
    what : str
        Name of ``other`` in messages.

    Returns
    -------
    ndarray of int
        Positions in ``other``, one per accrual row.

    Raises
    ------
    ParameterError
        ``other`` lacks the key columns, repeats a key, or its keys and the accrual's differ
        (the message names the first few missing keys): the frames are not aligned.

    Examples
    --------
    >>> acc = pd.DataFrame({"program_id": ["P", "P"], "customer_id": ["a", "b"]})
    >>> fc = pd.DataFrame({"program_id": ["P", "P"], "customer_id": ["b", "a"]})
    >>> align(acc, fc).tolist()
    [1, 0]
    """
    missing = [c for c in KEYS if c not in other.columns]
    if missing:
        raise ParameterError(
            f"{what}: no {missing} column(s), so it cannot be aligned with the accrual by "
            f"(program_id, customer_id); have {list(other.columns)[:8]}"
        )
    if _same_keys(accrual, other):  # already in the accrual's order: same answer, faster
        return np.arange(len(accrual))
    akey, okey = _pair_keys(accrual, other)
    ok = pd.Index(okey)
    if ok.has_duplicates:
        dup = _key_index(other)[ok.duplicated()].unique()[:5].tolist()
        raise ParameterError(f"{what}: repeated (program_id, customer_id) keys {dup}")
    pos = ok.get_indexer(akey)
    lost = pos < 0
    extra = len(other) - int((~lost).sum())
    if lost.any() or extra:
        parts = []
        if lost.any():
            parts.append(
                f"{int(lost.sum())} accrual row(s) have no {what} row, e.g. "
                f"{_key_index(accrual)[lost][:5].tolist()}"
            )
        if extra:
            gone = _key_index(other)[~ok.isin(akey)][:5].tolist()
            parts.append(f"{extra} {what} row(s) are not in the accrual, e.g. {gone}")
        raise ParameterError(
            f"{what} and accrual are not aligned on (program_id, customer_id): " + "; ".join(parts)
        )
    return pos


def _aligned(accrual: pd.DataFrame, forecast: pd.DataFrame | None) -> pd.DataFrame:
    """Accrual and forecast side by side, matched by key (the forecast's columns win)."""
    acc = accrual.reset_index(drop=True)
    if forecast is None:
        return acc.copy()
    pos = align(acc, forecast)
    fc = forecast.iloc[pos].reset_index(drop=True)
    extra = [c for c in fc.columns if c not in ("program_id", "customer_id", "pool_id")]
    return pd.concat([acc.drop(columns=[c for c in extra if c in acc.columns]), fc[extra]], axis=1)


def pool_codes(df: pd.DataFrame) -> np.ndarray:
    """Code ``0 .. n_pools - 1`` of each row's (program_id, pool_id), in order of appearance."""
    (key,) = _pair_keys(df, cols=["program_id", "pool_id"])
    return pd.factorize(key)[0]


# --------------------------------------------------------------------------------------------
# Rows, attributes, filters
# --------------------------------------------------------------------------------------------
def _with_attributes(df: pd.DataFrame, customers: pd.DataFrame | None) -> pd.DataFrame:
    """``df`` with the customers' ``name, rep, region, segment`` (those the table has)."""
    if customers is None:
        return df
    cols = [c for c in ATTRIBUTES if c in customers.columns]
    look = customers.set_index(customers["customer_id"].astype(str))[cols]
    add = look.reindex(df["customer_id"].astype(str).to_numpy())
    out = df.copy()
    for c in cols:
        out[c] = add[c].to_numpy()
    return out


def _as_list(v):
    if v is None:
        return None
    return [str(x) for x in (v if isinstance(v, list | tuple | set) else [v])]


@dataclass(frozen=True)
class Filters:
    """Which rows a review list keeps; each field a value or a list of values, None = all.

    Attributes
    ----------
    rep, region, segment : str or list of str, optional
        Customer attributes (columns of the customers table).
    program : str or list of str, optional
        Program ids.

    Examples
    --------
    >>> rows = pd.DataFrame({"program_id": ["P", "Q"], "rep": ["Ann", "Bob"]})
    >>> Filters(rep="Ann").apply(rows)["program_id"].tolist()
    ['P']
    """

    rep: str | list[str] | None = None
    region: str | list[str] | None = None
    segment: str | list[str] | None = None
    program: str | list[str] | None = None

    @classmethod
    def of(cls, filters: dict, *, where: str) -> Filters:
        """From keyword arguments, naming the function and the allowed names on a typo."""
        allowed = [f.name for f in fields(cls)]
        bad = sorted(set(filters) - set(allowed))
        if bad:
            raise TypeError(f"{where}() got unexpected keyword argument(s) {bad}; filters are "
                            f"{allowed}")  # fmt: skip
        return cls(**filters)

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``df`` that pass every filter."""
        out = df
        for col, want in (("rep", self.rep), ("region", self.region), ("segment", self.segment)):
            want = _as_list(want)
            if want is None:
                continue
            if col not in out.columns:
                raise ParameterError(
                    f"filter {col}=: the rows have no {col!r} column; pass data= (the customers "
                    "table needs that column)"
                )
            out = out[out[col].astype("string").isin(want).fillna(False).to_numpy()]
        want = _as_list(self.program)
        if want is not None:
            out = out[out["program_id"].astype(str).isin(want).to_numpy()]
        return out


def filter_rows(df: pd.DataFrame, *, rep=None, region=None, segment=None, program=None):
    """Rows whose ``rep``, ``region``, ``segment`` and ``program_id`` are among those given.

    Each filter is a value or a list of values; None keeps everything (see :class:`Filters`).
    """
    return Filters(rep=rep, region=region, segment=segment, program=program).apply(df)


def _programs_info(programs: ProgramSet | None, program_ids: np.ndarray):
    """Programs by id (None without programs); every id of the rows must be among them."""
    if programs is None:
        return None
    by_id = {p.id: p for p in programs}
    unknown = sorted(set(program_ids) - set(by_id))
    if unknown:
        raise ParameterError(f"rows name programs not in the program set: {unknown[:5]}")
    return by_id


def _need(df: pd.DataFrame, cols, what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ParameterError(f"{what}: missing column(s) {missing}; have {list(df.columns)}")


# --------------------------------------------------------------------------------------------
# Tier probabilities
# --------------------------------------------------------------------------------------------
def _tier_columns(df: pd.DataFrame) -> list[str]:
    cols = [c for c in df.columns if str(c).startswith("p_tier_")]
    return sorted(cols, key=lambda c: int(str(c)[7:]))


def _p_at_least(df: pd.DataFrame, tier: np.ndarray) -> np.ndarray:
    """P(end tier >= tier) per row from the ``p_tier_k`` columns."""
    cols = _tier_columns(df)
    if not cols:
        raise ParameterError("forecast: no p_tier_k columns (probability of each tier)")
    pt = df[cols].to_numpy(dtype=float)
    tail = np.cumsum(pt[:, ::-1], axis=1)[:, ::-1]  # tail[:, k] = P(tier >= k)
    tail = np.concatenate([tail, np.zeros((len(df), 1))], axis=1)
    k = np.clip(np.asarray(tier, dtype=np.int64), 0, tail.shape[1] - 1)
    return tail[np.arange(len(df)), k]
