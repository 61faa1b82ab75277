"""The rep's work lists together: opportunities, risks and eligible-not-enrolled, filtered fast.

:func:`worklists` computes the three lists once per (Reduction, accrual, forecast) and applies
the review's rules to them; :meth:`Worklists.select` then filters any of them with vectorised
masks (a widget's filter change re-ranks nothing), and :meth:`Worklists.sentences` formats
the rep's sentences only for the rows shown, remembering them.

The rules (each a tested function of this module):

- **Open periods only** (:func:`open_program_ids`): a program whose period has not started or
  has ended as of the review date is not worked (no eligible-not-enrolled row recommends a
  program that ended).
- **A minimum value** (:class:`ReviewRules`, default $50): opportunities below it in value at
  stake, risks below it in value at risk, and eligible customers who would earn less than it
  are left out; an eligible customer who would earn nothing is never listed.
- **One owner per buying group** (:func:`group_owners`): a pooled row (one per buying group)
  belongs to the rep of most of the group's members, ties to the smallest rep id. The CLI
  (``rebatelab review``, ``rebatelab notify``) and the dashboard use this same rule.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rebatelab.errors import ParameterError
from rebatelab.programs.terms import ProgramSet

__all__ = [
    "ReviewRules",
    "Worklists",
    "worklists",
    "open_program_ids",
    "group_owners",
    "owner_reps",
    "top_per_rep",
    "ruled",
    "KINDS",
]

#: The three lists, in the order they are shown.
KINDS = ("opportunities", "risks", "eligible")

#: The value column of each list [currency].
VALUE = {"opportunities": "value_at_stake", "risks": "value_at_risk", "eligible": "expected_rebate"}


@dataclass(frozen=True)
class ReviewRules:
    """What the review lists keep.

    Attributes
    ----------
    min_value : float
        Smallest value [currency] worth a call: opportunities need ``value_at_stake``, risks
        ``value_at_risk`` and eligible customers ``expected_rebate`` (what enrolling would
        likely pay them) of at least this much. Default 50.
    top : int
        Rows per rep in a digest or call list shown to a reader (the downloads hold all).
    """

    min_value: float = 50.0
    top: int = 25

    def __post_init__(self):
        if not np.isfinite(self.min_value) or self.min_value < 0:
            raise ParameterError(f"min_value must be >= 0 [currency], got {self.min_value}")
        if int(self.top) < 1:
            raise ParameterError(f"top must be >= 1 row, got {self.top}")


# --------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------
def open_program_ids(programs: ProgramSet, as_of) -> list[str]:
    """Ids of the programs whose period is open on ``as_of`` (start <= as_of <= end).

    Examples
    --------
    >>> from rebatelab.programs.terms import load_programs
    >>> ps = load_programs('''
    ... programs:
    ...   - {id: OLD, start: 2025-01-01, end: 2025-12-31, tiers: [{from: 1, rate: 0.01}]}
    ...   - {id: NOW, start: 2026-01-01, end: 2026-12-31, tiers: [{from: 1, rate: 0.01}]}
    ...   - {id: NEXT, start: 2027-01-01, end: 2027-12-31, tiers: [{from: 1, rate: 0.01}]}
    ... ''')
    >>> open_program_ids(ps, "2026-09-30")
    ['NOW']
    """
    day = pd.Timestamp(as_of).normalize()
    return [p.id for p in programs if pd.Timestamp(p.start) <= day <= pd.Timestamp(p.end)]


def group_owners(customers: pd.DataFrame) -> pd.Series:
    """The rep who owns each buying group: the rep of most of its members, ties to the smallest.

    Parameters
    ----------
    customers : DataFrame
        With ``buying_group`` and ``rep`` (members without a rep do not vote).

    Returns
    -------
    Series
        Indexed by buying group (text), the owner's rep id (text); empty when the table has
        no such columns.

    Examples
    --------
    >>> cu = pd.DataFrame({"buying_group": ["G", "G", "G", "G", "H"],
    ...                    "rep": ["R08", "R03", "R03", "R08", "R01"]})
    >>> group_owners(cu).to_dict()
    {'G': 'R03', 'H': 'R01'}
    """
    if not {"buying_group", "rep"} <= set(customers.columns):
        return pd.Series(dtype=object)
    both = customers[["buying_group", "rep"]].dropna().astype(str)
    counts = both.groupby(["buying_group", "rep"], sort=False).size().rename("n").reset_index()
    counts = counts.sort_values(["buying_group", "n", "rep"], ascending=[True, False, True])
    first = counts.drop_duplicates("buying_group")
    return pd.Series(first["rep"].to_numpy(), index=first["buying_group"].to_numpy(), name="rep")


def owner_reps(rows: pd.DataFrame, customers: pd.DataFrame | None) -> np.ndarray:
    """Each row's rep: the customer's, or for a pooled row the buying group's owner.

    A row is pooled when its ``pool_id`` is not its ``customer_id`` (one row speaks for the
    pool); its rep is :func:`group_owners`' owner of that group.

    Returns
    -------
    ndarray of object
        One rep per row (None where the customer has none).
    """
    if "rep" in rows.columns:
        rep = rows["rep"].astype(object).to_numpy()
    else:
        rep = np.full(len(rows), None, dtype=object)
    if customers is None or "pool_id" not in rows.columns or not len(rows):
        return rep
    owners = group_owners(customers)
    pool = rows["pool_id"].astype(str).to_numpy()
    pooled = pool != rows["customer_id"].astype(str).to_numpy()
    owner = owners.reindex(pool).to_numpy(dtype=object)
    return np.where(pooled & pd.notna(owner), owner, rep)


def top_per_rep(rows: pd.DataFrame, n: int, *, value: str) -> pd.DataFrame:
    """The ``n`` rows of largest ``value`` of each rep, ranked by value overall.

    Examples
    --------
    >>> rows = pd.DataFrame({"rep": ["A", "A", "A", "B"], "v": [1.0, 3.0, 2.0, 0.5]})
    >>> top_per_rep(rows, 2, value="v")["v"].tolist()
    [3.0, 2.0, 0.5]
    """
    ordered = rows.sort_values(value, ascending=False, kind="stable")
    keep = ordered.groupby(ordered["rep"].astype(str), sort=False).cumcount() < n
    return ordered[keep.to_numpy()]


# --------------------------------------------------------------------------------------------
# The three lists together
# --------------------------------------------------------------------------------------------
def _codes(values: pd.Series) -> tuple[np.ndarray, dict[str, int]]:
    """Integer code per row and the code of each value (text); -1 for a missing value."""
    codes, uniques = pd.factorize(values.astype(object).where(values.notna(), None))
    return codes, {str(u): i for i, u in enumerate(uniques)}


@dataclass
class Worklists:
    """The three review lists of one (data, programs, as-of day), filtered by masks.

    Build with :func:`worklists`. Each list is ranked by its value (:data:`VALUE`), with a
    ``rep`` column by the ownership rule and an empty ``sentence`` column filled, for the
    rows asked, by :meth:`sentences`.

    Attributes
    ----------
    lists : dict of str -> DataFrame
        ``opportunities``, ``risks``, ``eligible`` (``eligible`` None when not computed).
    programs : ProgramSet
    as_of : Timestamp
    rules : ReviewRules
    currency : str
        Symbol of the sentences' amounts.
    """

    lists: dict
    programs: ProgramSet
    as_of: pd.Timestamp
    rules: ReviewRules
    currency: str = "$"
    _codes: dict = field(default_factory=dict, repr=False)
    _said: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        for kind, df in list(self.lists.items()):
            self._register(kind, df)

    def add(self, kind: str, rows: pd.DataFrame, customers: pd.DataFrame | None) -> None:
        """Put in list ``kind`` (e.g. ``eligible``, computed later) under the rules.

        ``rows`` is the list function's result; ``customers`` gives the group owners.
        """
        self.lists[kind] = ruled(kind, rows, self.programs, self.as_of, customers)
        self._register(kind, self.lists[kind])

    def put(self, kind: str, rows: pd.DataFrame) -> None:
        """Put in list ``kind`` rows already under the rules (:func:`ruled`, or a stored list)."""
        self.lists[kind] = rows
        self._register(kind, rows)

    def _register(self, kind: str, df: pd.DataFrame | None) -> None:
        if df is None:
            return
        # ranks and the filter codes of one list
        df = df.reset_index(drop=True)
        df["rank"] = np.arange(1, len(df) + 1)
        self.lists[kind] = df
        self._codes[kind] = {
            col: _codes(df[col]) for col in ("rep", "region", "segment", "program_id")
            if col in df.columns
        }  # fmt: skip
        self._codes[kind]["_value"] = df[VALUE[kind]].to_numpy(dtype=float)
        if "days_left" in df.columns:
            self._codes[kind]["_days"] = df["days_left"].to_numpy(dtype=np.int64)
        self._said[kind] = np.full(len(df), None, dtype=object)

    def mask(self, kind: str, *, rep=None, region=None, segment=None, program=None,
             min_value: float | None = None, days_left: tuple[int, int] | None = None):  # fmt: skip
        """Boolean mask of the rows of list ``kind`` passing the filters (None = all).

        ``rep, region, segment, program``: a value or a list of values; ``min_value``
        [currency] (default the rules'); ``days_left`` (lo, hi) [days], both inclusive.
        """
        df = self.lists[kind]
        codes = self._codes[kind]
        m = np.ones(len(df), dtype=bool)
        for col, want in (("rep", rep), ("region", region), ("segment", segment),
                          ("program_id", program)):  # fmt: skip
            if want is None:
                continue
            if col not in codes:
                raise ParameterError(f"filter {col}=: the {kind} have no {col!r} column")
            code, index = codes[col]
            wanted = [index[str(v)] for v in (want if isinstance(want, list | tuple) else [want])
                      if str(v) in index]  # fmt: skip
            m &= np.isin(code, wanted)
        floor = self.rules.min_value if min_value is None else float(min_value)
        m &= codes["_value"] >= floor - 1e-9
        if days_left is not None and "_days" in codes:
            lo, hi = days_left
            m &= (codes["_days"] >= lo) & (codes["_days"] <= hi)
        return m

    def select(self, kind: str, **filters) -> pd.DataFrame:
        """The rows of list ``kind`` passing the filters (:meth:`mask`), in rank order."""
        df = self.lists[kind]
        if df is None:
            raise ParameterError(f"the {kind} list was not computed (worklists(eligible=False))")
        return df[self.mask(kind, **filters)]

    def sentences(self, kind: str, rows: pd.DataFrame) -> pd.DataFrame:
        """``rows`` (of :meth:`select`) with their ``sentence`` written, formatted once each."""
        from rebatelab.review.eligibility import eligible_sentences
        from rebatelab.review.opportunities import opportunity_sentences
        from rebatelab.review.risks import risk_sentences

        said = self._said[kind]
        pos = rows["rank"].to_numpy(dtype=np.int64) - 1
        new = pos[pd.isna(said[pos])]
        if len(new):
            sub = self.lists[kind].iloc[new]
            if kind == "opportunities":
                text = opportunity_sentences(sub, self.programs, currency=self.currency)
            elif kind == "risks":
                text = risk_sentences(sub, self.programs, self.as_of, currency=self.currency)
            else:
                text = eligible_sentences(sub, self.programs, currency=self.currency)
            said[new] = text
        return rows.assign(sentence=said[pos])

    def call_lists(self, **filters) -> dict:
        """Every row of each list passing the filters, sentences written, by list.

        What a rep works from; :func:`rebatelab.report.digest.digest` makes one table of it.
        A list not computed is None.
        """
        return {
            kind: None if self.lists.get(kind) is None
            else self.sentences(kind, self.select(kind, **filters))
            for kind in KINDS
        }  # fmt: skip


def worklists(
    accrual: pd.DataFrame,
    forecast: pd.DataFrame,
    reduction,
    *,
    previous: pd.DataFrame | None = None,
    eligible: bool | pd.DataFrame = True,
    method: str | None = None,
    rules: ReviewRules | None = None,
    currency: str = "$",
) -> Worklists:
    """Opportunities, risks and eligible-not-enrolled of every customer, once, under the rules.

    Parameters
    ----------
    accrual, forecast : DataFrame
        :func:`rebatelab.accrue` and :func:`rebatelab.forecast` of ``reduction``.
    reduction : Reduction
        Stage one's result they came from.
    previous : DataFrame, optional
        An earlier forecast, for the ``slipping`` risks.
    eligible : bool or DataFrame
        Compute the eligible-not-enrolled list (it forecasts every eligible customer), skip
        it (False), or use this :func:`~rebatelab.review.eligibility.eligible_not_enrolled`
        result.
    method : str, optional
        Forecast method of the eligible list.
    rules : ReviewRules, optional
        Default ``ReviewRules()``; its ``min_value`` is the default of every
        :meth:`Worklists.select` (rows below it are kept, so that a lower minimum needs no
        recomputation), except that eligible customers who would earn nothing are dropped.
    currency : str
        Symbol of the sentences' amounts.

    Returns
    -------
    Worklists
        Rows of programs whose period is open on the review date only, each list ranked by
        its value, with the owner rule's ``rep``.

    Examples
    --------
    >>> import rebatelab as rl
    >>> data, programs = rl.datasets.load_sample()
    >>> red = rl.reduce(data, programs, "2026-09-30")
    >>> wl = worklists(rl.accrue(red), rl.forecast(red, method="run_rate"), red, eligible=False)
    >>> bool((wl.select("opportunities")["value_at_stake"] >= 50).all())
    True
    """
    from rebatelab.review.eligibility import eligible_not_enrolled
    from rebatelab.review.opportunities import opportunities
    from rebatelab.review.risks import risks

    rules = ReviewRules() if rules is None else rules
    programs, as_of = reduction.programs, reduction.as_of
    lists = {
        "opportunities": opportunities(accrual, forecast, data=reduction, sentences=False),
        "risks": risks(accrual, forecast, data=reduction, previous=previous, sentences=False),
        "eligible": None,
    }
    if isinstance(eligible, pd.DataFrame):
        lists["eligible"] = eligible
    elif eligible:
        kw = {} if method is None else {"method": method}
        lists["eligible"] = eligible_not_enrolled(reduction, sentences=False, **kw)
    for kind, df in lists.items():
        if df is not None:
            lists[kind] = ruled(kind, df, programs, as_of, reduction.customers)
    return Worklists(lists, programs, as_of, rules, currency)


def ruled(kind: str, df: pd.DataFrame, programs, as_of, customers) -> pd.DataFrame:
    """A list under the rules: open programs, nobody enrolled for nothing, owners, ranked.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.
    df : DataFrame
        The list function's rows (``opportunities``, ``risks``, ``eligible_not_enrolled``).
    programs : ProgramSet
    as_of : date-like
    customers : DataFrame or None
        For the owners of buying groups (:func:`group_owners`).
    """
    live = set(open_program_ids(programs, as_of))
    df = df[df["program_id"].astype(str).isin(live).to_numpy()]
    if kind == "eligible":  # nobody is asked to enrol for nothing
        df = df[np.round(df["expected_rebate"].to_numpy(dtype=float)) >= 1]
    df = df.assign(rep=owner_reps(df, customers))
    return df.sort_values(VALUE[kind], ascending=False, kind="stable")
