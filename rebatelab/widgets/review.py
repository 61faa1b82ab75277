"""The sales manager's view: opportunities, risks and eligible customers; click a row to drill down.

Everything the filters touch is computed once per (data, programs, as-of day) by
:func:`rebatelab.review.worklist.worklists`; a filter change is a few vectorised masks and
25 rows of text per list; the drill-down is drawn only when a row is clicked.
"""

from __future__ import annotations

import getpass
import io
import os
import warnings

import ipywidgets as w
import numpy as np
import pandas as pd

from rebatelab.engine.stage_one import Reduction
from rebatelab.money import currency_symbol, data_currency, format_money, percent
from rebatelab.plotting.review import mark_money_map, plot_forecast_fan, plot_money_map
from rebatelab.report.digest import digest
from rebatelab.report.html import escape
from rebatelab.report.statement import statement
from rebatelab.review.worklist import KINDS, VALUE, ReviewRules, Worklists, worklists
from rebatelab.widgets._base import ALL, View
from rebatelab.widgets.changes import ProposePanel
from rebatelab.widgets.rowtable import DownloadButton, RowTable

__all__ = ["ReviewDashboard", "OpportunityReview"]

_TITLES = {
    "opportunities": "Opportunities",
    "risks": "Risks",
    "eligible": "Not enrolled",
}
_NOUN = {
    "opportunities": ("opportunity", "opportunities"),
    "risks": ("risk", "risks"),
    "eligible": ("eligible customer not enrolled", "eligible customers not enrolled"),
}
_RISK_WORDS = {
    "below_last_period": "below last period's tier",
    "slipping": "slipping",
    "quiet": "no recent purchases",
}
_COLUMNS = {
    "opportunities": [
        ("rank", "#", True), ("customer", "Customer", False), ("rep", "Rep", False),
        ("region", "Region", False), ("program_id", "Program", False),
        ("days_left", "Days left", True), ("p_next_tier", "P(next tier)", True),
        ("value", "Value at stake", True), ("sentence", "Why, and what to say", False),
    ],
    "risks": [
        ("rank", "#", True), ("customer", "Customer", False), ("rep", "Rep", False),
        ("region", "Region", False), ("program_id", "Program", False),
        ("risk", "Risk", False), ("value", "Value at risk", True),
        ("sentence", "Why", False),
    ],
    "eligible": [
        ("rank", "#", True), ("customer", "Customer", False), ("rep", "Rep", False),
        ("region", "Region", False), ("program_id", "Program", False),
        ("value", "Would likely earn", True), ("sentence", "Why", False),
    ],
}  # fmt: skip


#: Programs whose drill-down figure (the money map as pixels) is kept for the next click.
DRILL_PROGRAMS_KEPT = 8

#: Eligible (program, customer) pairs not enrolled up to which the list is built on opening.
EAGER_CANDIDATES = 50_000


def _choices(values) -> list[str]:
    return [ALL, *sorted(pd.Series(values).dropna().astype(str).unique())]


class ReviewDashboard(View):
    """Opportunities, risks and eligible-not-enrolled in tabs; a row click drills down.

    The lines are reduced once (stage one), accrued and forecast once, and the three lists
    built once under the review's rules (:func:`rebatelab.review.worklist.worklists`: open
    periods only, a minimum value, one owner per buying group). Filters select rows with
    masks; only the rows shown get their sentence.

    Parameters
    ----------
    data : Reduction or RebateData
        Stage one's result (then ``programs`` and ``as_of`` are its own), or the data.
    programs : ProgramSet or path, optional
        With a RebateData.
    as_of : date-like, optional
        With a RebateData; default: the last transaction date.
    method : str, optional
        Forecast method (:func:`rebatelab.forecast`).
    min_value : float
        Default minimum value [currency] of a row (hides the trivial); 50.
    top : int
        Rows shown per list (the call list downloads hold every row); 25.
    eligible : bool or "auto"
        Build the eligible-not-enrolled list (it forecasts every eligible customer): True
        when the view opens, False never, ``"auto"`` when the view opens if there are at
        most :data:`EAGER_CANDIDATES` eligible (program, customer) pairs not enrolled, else
        when its tab is first opened or a call list is downloaded.
    workspace : path, optional
        Where the drill-down's change requests (enrollments, variants) are recorded; a new
        workspace in a temporary folder when None. Needs ``data`` to be a RebateData.
    user : str, optional
        Who proposes changes from the drill-down (default ``$REBATELAB_USER``, else the
        account the notebook runs under); editable in the panel.
    cache : rebatelab.io.cache.InputCache, optional
        Read stage one, the accrual, the forecast, the money map and the three lists from it
        (computed and written on a miss); then ``data``, ``programs``, ``as_of`` and
        ``method`` are the cache's (pass None). :meth:`from_folder` builds one.

    Attributes
    ----------
    rep, region, program : ipywidgets.Dropdown
        Filters; ``(all)`` keeps everything. A buying group's row belongs to the rep of
        most of its members (ties: the smallest rep id).
    days_left : ipywidgets.IntRangeSlider
        Rows whose period has between these many days left [days].
    min_value : ipywidgets.BoundedFloatText
        Smallest value at stake, at risk, or of rebate to earn [currency].
    top : ipywidgets.BoundedIntText
        Rows shown per list.
    tabs : ipywidgets.Tab
        One tab per list (:data:`rebatelab.review.worklist.KINDS`), each a :class:`RowTable`.
    tables : dict of str -> RowTable
        The tables by list; a click sets its ``selected`` to ``[program_id, customer_id]``.
    download_csv, download_xlsx : DownloadButton
        The call list under the filters (all three lists), as CSV or xlsx, in the browser.
    selected : (str, str) or None
        The drilled-down ``(program_id, customer_id)``.
    propose : rebatelab.widgets.changes.ProposePanel or None
        The drill-down's panel to propose an enrollment or a variant for the customer shown,
        opened by ``propose_button`` (:meth:`open_propose`); None when the view was given a
        Reduction, which holds no lines to check a proposal on.
    result : dict of str -> DataFrame
        Every row of each list under the filters (:meth:`compute`).
    shown : dict of str -> DataFrame
        The rows each table shows (with their sentences).
    worklists : rebatelab.review.worklist.Worklists
        The three lists everything above is cut from.
    """

    def __init__(self, data=None, programs=None, as_of=None, *, method=None,
                 min_value: float = 50.0, top: int = 25, eligible: bool | str = "auto",
                 workspace=None, user=None, cache=None):  # fmt: skip
        super().__init__()
        self.cache = cache
        if cache is not None:
            red = cache.reduction()
            method = cache.method
        elif isinstance(data, Reduction):
            red = data
        else:
            from rebatelab.engine.stage_one import reduce

            day = as_of if as_of is not None else data.date_range[1]
            red = reduce(data, programs, day)
        self.reduction = red
        self.programs = red.programs
        self.as_of = red.as_of
        if cache is not None:
            self.currency = cache.currency()
        else:
            self.currency = data_currency(data)
        self._data, self._workspace, self._user = data, workspace, user
        self._method = method
        kw = {} if method is None else {"method": method}
        if cache is not None:
            self.accrual = cache.accrual()
            self.forecast = cache.forecast()
            self.money_map = cache.money_map()
        else:  # imported here: a view opened from the cache needs no forecasting code
            from rebatelab.engine.accrual import accrue
            from rebatelab.forecasting.projection import forecast
            from rebatelab.review.moneymap import money_map

            self.accrual = accrue(red)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                self.forecast = forecast(red, **kw)
            self.money_map = money_map(self.accrual, self.forecast, programs=self.programs)
        stored = getattr(red, "stored_rows", None)  # read from the cache: count, not read
        n_cand = stored("candidates") if stored is not None else None
        if n_cand is None:
            n_cand = len(red.candidates) if red.candidates is not None else 0
        # a long stored list too is read when its tab is opened: registering 2M rows for
        # the filters takes seconds at 50,000 customers, the other two tabs open without it
        eager = eligible is True or (eligible == "auto" and n_cand <= EAGER_CANDIDATES)
        self._eligible_pending = eligible is not False and not eager
        rules = ReviewRules(min_value=min_value, top=top)
        symbol = currency_symbol(self.currency) or ""
        if cache is None:
            self.worklists = worklists(
                self.accrual, self.forecast, red, eligible=eager, method=method, rules=rules,
                currency=symbol,
            )  # fmt: skip
        else:
            lists = cache.review_lists(eligible=eager)
            self.worklists = Worklists(lists, self.programs, self.as_of, rules, symbol)
        self._keys = self.accrual.set_index(["program_id", "customer_id"]).index
        self.shown: dict[str, pd.DataFrame] = {}
        self.result: dict[str, pd.DataFrame | None] = {}
        self.selected: tuple[str, str] | None = None
        # the drill-down of each program lately shown, kept as pixels (program_id -> layer)
        self._drill_layers: dict = {}
        self._member_codes: dict | None = None  # per program: members, pools
        self._rows_of = None  # forecast row of each accrual row; accrual rows by customer
        self._syncing = False
        cust = red.customers
        max_days = int(self.accrual["days_left"].max()) if len(self.accrual) else 0
        names = cust.set_index(cust["customer_id"].astype(str))
        self._names = names["name"] if "name" in names.columns else None

        style = {"description_width": "initial"}
        self.rep = w.Dropdown(options=_choices(cust.get("rep", [])), description="Rep")
        self.region = w.Dropdown(options=_choices(cust.get("region", [])), description="Region")
        self.program = w.Dropdown(options=[ALL, *self.programs.ids], description="Program")
        self.days_left = w.IntRangeSlider(
            value=(0, max_days), min=0, max=max(max_days, 1), description="Days left",
            continuous_update=False, style=style,
        )  # fmt: skip
        self.min_value = w.BoundedFloatText(
            value=min_value, min=0, max=1e12, step=10, style=style,
            description=f"Minimum value [{self.currency}]", layout=w.Layout(width="230px"),
        )  # fmt: skip
        self.top = w.BoundedIntText(value=top, min=1, max=10_000, description="Rows shown",
                                    style=style, layout=w.Layout(width="160px"))  # fmt: skip
        self.tables = {k: RowTable(columns=self._columns(k)) for k in KINDS}
        self.counts = {k: w.HTML() for k in KINDS}
        pages = [w.VBox([self.counts[k], self.tables[k]]) for k in KINDS]
        self.tabs = w.Tab(children=pages, titles=[_TITLES[k] for k in KINDS])
        self.download_csv = DownloadButton(lambda: self.call_list_file("csv"),
                                           description="Call list (CSV)")  # fmt: skip
        self.download_xlsx = DownloadButton(lambda: self.call_list_file("xlsx"),
                                            description="Call list (xlsx)")  # fmt: skip
        self.heading = w.HTML()
        self.detail = w.HTML()
        self.propose = None
        parts = [self.heading, self._image("drilldown"), self.detail]
        if not isinstance(data, Reduction):
            if workspace is None:  # a workspace of this session only
                import tempfile
                from pathlib import Path

                workspace = Path(tempfile.mkdtemp(prefix="rebatelab-review-")) / "review.duckdb"
            if user is None and not os.environ.get("REBATELAB_USER"):
                user = getpass.getuser()  # the account the notebook runs under
            self._propose_args = dict(workspace=workspace, programs=self.programs,
                                      as_of=self.as_of, user=user)  # fmt: skip
            if data is not None:  # with a cache only: built when first opened (reads the lines)
                self.propose = ProposePanel(data=data, **self._propose_args)
                self.propose.widget.layout.display = "none"
            self._propose_box = w.VBox([] if self.propose is None else [self.propose.widget])
            # the panel looks the customer up (a forecast) only when asked, not on each click
            self.propose_button = w.Button(description="Propose a change for this customer",
                                           layout=w.Layout(width="auto"))  # fmt: skip
            self.propose_button.add_class("rl-propose-open")
            self.propose_button.on_click(lambda _b: self._guarded(self.open_propose))
            parts += [self.propose_button, self._propose_box]
        self.drilldown = w.VBox(parts)
        names_css = ("rep", "region", "program", "days_left", "min_value", "top", "tabs",
                     "heading", "detail", "download_csv", "download_xlsx")  # fmt: skip
        for name in names_css:
            getattr(self, name).add_class(f"rl-{name.replace('_', '-')}")
        for k in KINDS:
            self.tables[k].add_class(f"rl-table-{k}")

        self.widget = w.VBox(
            [
                self._css(),
                w.HTML(
                    f"<h3>Sales review as of {self.as_of.date()}: who to call, what to "
                    "say, and why</h3>"
                ),  # fmt: skip
                w.HBox([self.rep, self.region, self.program]),
                w.HBox([self.days_left, self.min_value, self.top]),
                self.status,
                w.HBox([self.download_csv, self.download_xlsx]),
                self.tabs,
                w.HTML("<h4>Drill-down (click a row)</h4>"),
                self.drilldown,
            ]
        )
        self.widget.add_class("rl-review")
        self._watch(self.rep, self.region, self.program, self.days_left, self.min_value,
                    self.top)  # fmt: skip
        for k in KINDS:
            self.tables[k].observe(lambda ch: self._guarded(lambda: self._clicked(ch)),
                                   names="selected")  # fmt: skip
        self.tabs.observe(lambda ch: self._guarded(self._tab_opened), names="selected_index")
        self._guarded(self.refresh)
        first = next((self.shown[k] for k in KINDS if len(self.shown.get(k, ()))), None)
        if first is not None:  # open on the top row of the first list that has one
            r = first.iloc[0]
            self._guarded(lambda: self.select(str(r["program_id"]), str(r["customer_id"])))
        else:
            self._guarded(lambda: self.select(None, None))

    @classmethod
    def from_folder(cls, folder, programs=None, as_of=None, *, method=None, cache_dir=None,
                    changes=None, apply_changes: bool = True,
                    **kwargs) -> ReviewDashboard:  # fmt: skip
        """The view of a data folder, opened from its cache (``DATA/.rebatelab-cache``).

        The terms are the program file's plus the approved change requests in force on
        ``as_of`` of the workspace ``changes`` (default ``rebatelab.duckdb`` in the folder),
        as ``rebatelab review`` applies them, unless ``apply_changes`` is False. Results
        stored by ``rebatelab precompute`` (or by an earlier opening) for the same files,
        terms, requests in force, as-of day and method are read; anything else is computed
        and stored. Other keyword arguments are the view's (``workspace`` is where the
        drill-down records new requests).

        Parameters
        ----------
        folder : str or Path
            The data folder.
        programs : ProgramSet or path, optional
            Default ``programs.yaml`` in the folder.
        as_of : date-like, optional
            Default the last transaction date.
        method : str, optional
            Forecast method.
        cache_dir : str or Path, optional
            Where the cache lives (default ``folder / ".rebatelab-cache"``).
        changes : str or Path, optional
            The workspace whose approved requests apply.
        apply_changes : bool
            Apply them (default True).
        """
        from rebatelab.report.dashboard_inputs import dashboard_cache

        cache, _terms = dashboard_cache(folder, programs, as_of, method=method,
                                        workspace=changes, apply_changes=apply_changes,
                                        cache_dir=cache_dir)  # fmt: skip
        return cls(cache=cache, **kwargs)

    # -- filters -------------------------------------------------------------------------
    @staticmethod
    def _value(control):
        return None if control.value == ALL else control.value

    def filters(self) -> dict:
        """The filters of :meth:`Worklists.select` from the controls."""
        return {
            "rep": self._value(self.rep),
            "region": self._value(self.region),
            "program": self._value(self.program),
            "days_left": tuple(self.days_left.value),
            "min_value": float(self.min_value.value),
        }

    def _columns(self, kind):
        return [{"key": k, "label": lab, "num": num} for k, lab, num in _COLUMNS[kind]]

    def _rows(self, kind: str, df: pd.DataFrame) -> list[dict]:
        """The table's text of the rows shown (formatting only, a few dozen rows)."""
        cur = self.currency
        names = (self._names.reindex(df["customer_id"].astype(str)).to_numpy()
                 if self._names is not None else [None] * len(df))  # fmt: skip
        value = df[VALUE[kind]].to_numpy(dtype=float)
        out = []
        for i, r in enumerate(df.itertuples(index=False)):  # one dict per row shown
            pooled = "pool_id" in df.columns and str(r.pool_id) != str(r.customer_id)
            who = f"{names[i]} ({r.customer_id})" if pd.notna(names[i]) else str(r.customer_id)
            if pooled:
                who = f"Buying group {r.pool_id}: {who}"
            row = {
                "_key": [str(r.program_id), str(r.customer_id)],
                "rank": f"{int(r.rank):,}",
                "customer": who,
                "rep": "" if pd.isna(r.rep) else str(r.rep),
                "region": "" if pd.isna(getattr(r, "region", None)) else str(r.region),
                "program_id": str(r.program_id),
                "value": format_money(value[i], currency=cur, decimals=0),
                "sentence": str(r.sentence),
            }
            if kind == "opportunities":
                row["days_left"] = f"{int(r.days_left):,}"
                row["p_next_tier"] = percent(round(float(r.p_next_tier), 2))
            if kind == "risks":
                row["risk"] = _RISK_WORDS.get(str(r.risk), str(r.risk))
            out.append(row)
        return out

    def compute(self) -> dict[str, pd.DataFrame | None]:
        """The rows of each list under the filters (masks only: no sentence, no drawing)."""
        f = self.filters()
        wl = self.worklists
        return {k: None if wl.lists.get(k) is None else wl.select(k, **f) for k in KINDS}

    def refresh(self) -> None:
        """Cut the three lists under the filters; refill the tables (the drill-down stays)."""
        f = self.filters()
        n = int(self.top.value)
        parts = []
        wl = self.worklists
        self.result = selected = self.compute()
        for k in KINDS:
            sel = selected[k]
            if sel is None:
                self.shown[k] = pd.DataFrame()
                self.tables[k].rows = []
                stored = self.cache is not None and self.cache.has("review-eligible")
                self.tables[k].empty = (
                    ("Read when this tab is opened (a long list)." if stored else
                     "Computed when this tab is opened (it forecasts every eligible customer).")
                    if self._eligible_pending else "Not computed (eligible=False)."
                )  # fmt: skip
                continue
            self.shown[k] = shown = wl.sentences(k, sel.head(n))
            self.tables[k].empty = f"No {_NOUN[k][1]} under these filters."
            self.tables[k].rows = self._rows(k, shown)
            total = float(sel[VALUE[k]].sum())
            noun = _NOUN[k][0 if len(sel) == 1 else 1]
            more = f"; showing the top {n:,}" if len(sel) > n else ""
            self.counts[k].value = (
                f"<p>{len(sel):,} {escape(noun)}, {escape(format_money(total, currency=self.currency, decimals=0))}"  # noqa: E501
                f" in all{more}.</p>"
            )
            parts.append(f"{len(sel):,} {noun}")
        sizes = {k: None if v is None else len(v) for k, v in selected.items()}
        self.tabs.titles = [
            _TITLES[k] if sizes[k] is None else f"{_TITLES[k]} ({sizes[k]:,})" for k in KINDS
        ]
        who = "all reps" if f["rep"] is None else f"rep {f['rep']}"
        self._ok(
            f"<b>{escape(', '.join(parts))}</b> for {escape(who)} (minimum value "
            f"{escape(format_money(f['min_value'], currency=self.currency, decimals=0))})"
        )

    def compute_eligible(self) -> None:
        """Build the eligible-not-enrolled list now (once), and show it."""
        if not self._eligible_pending:
            return
        if self.cache is not None:
            self.worklists.put("eligible", self.cache.eligible_list())
        else:
            from rebatelab.review.eligibility import eligible_not_enrolled

            kw = {} if self._method is None else {"method": self._method}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                rows = eligible_not_enrolled(self.reduction, sentences=False, **kw)
            self.worklists.add("eligible", rows, self.reduction.customers)
        self._eligible_pending = False
        self.refresh()

    def _tab_opened(self) -> None:
        if self.tabs.selected_index == KINDS.index("eligible") and self._eligible_pending:
            self.counts["eligible"].value = "<p><i>Computing...</i></p>"
            self.compute_eligible()

    # -- downloads -----------------------------------------------------------------------
    def call_list(self) -> pd.DataFrame:
        """The call list under the filters: every row of the three lists, with sentences."""
        self.compute_eligible()
        parts = self.worklists.call_lists(**self.filters())
        return digest(parts["opportunities"], parts["risks"], parts["eligible"])

    def call_list_file(self, fmt: str) -> tuple[str, str, bytes]:
        """``(filename, mime type, bytes)`` of the call list as ``csv`` or ``xlsx``."""
        table = self.call_list()
        rep = self._value(self.rep) or "all-reps"
        stem = f"call-list_{rep}_{self.as_of.date()}"
        if fmt == "csv":
            return f"{stem}.csv", "text/csv", table.to_csv(index=False).encode("utf-8")
        buf = io.BytesIO()
        with pd.ExcelWriter(buf, engine="openpyxl") as xw:
            table.rename(columns={"value": f"value [{self.currency}]"}).to_excel(
                xw, sheet_name="call list", index=False
            )
            ws = xw.sheets["call list"]
            from openpyxl.utils import get_column_letter

            for j, col in enumerate(table.columns, start=1):
                letter = get_column_letter(j)
                width = {"sentence": 100, "value": 14, "name": 22, "kind": 24}.get(col, 13)
                ws.column_dimensions[letter].width = width
                if col == "value":  # amounts with thousands separators
                    for (cell,) in ws.iter_rows(min_row=2, min_col=j, max_col=j):
                        cell.number_format = "#,##0.00"
            ws.freeze_panes = "A2"
        mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        return f"{stem}.xlsx", mime, buf.getvalue()

    # -- drill-down ----------------------------------------------------------------------
    def _clicked(self, change) -> None:
        key = change["new"]
        if key and not self._syncing and tuple(key) != self.selected:
            self.select(str(key[0]), str(key[1]))

    def select(self, program_id: str | None, customer_id: str | None = None) -> None:
        """Drill down to one (program, customer): its fan, its program's money map, statement.

        ``select(None)`` clears the drill-down.
        """
        self._syncing = True
        try:  # show the same row selected in every list (not a click)
            for t in self.tables.values():
                t.selected = [] if program_id is None else [program_id, customer_id]
        finally:
            self._syncing = False
        if program_id is None or customer_id is None:
            self.selected = None
            self.heading.value = (
                "<p><i>No row to drill down to: nothing under these filters.</i></p>"  # noqa: E501
            )
            self.figures.pop("drilldown", None)
            self.images["drilldown"].layout.display = "none"
            self.detail.value = ""
            return
        if (program_id, customer_id) not in self._keys:
            # an eligible customer not enrolled has no accrual row of that program
            self._drill_customer_only(program_id, customer_id)
            return
        self.selected = (program_id, customer_id)
        acc = self.accrual
        at = self._keys.get_loc((program_id, customer_id))  # an index lookup, no scan
        if isinstance(at, slice):  # a repeated key: its first row
            at = at.start
        elif not isinstance(at, (int, np.integer)):
            at = int(np.flatnonzero(at)[0])
        tier = int(acc["tier"].iloc[at])
        self._draw_drilldown(program_id, customer_id, tier, str(acc["pool_id"].iloc[at]))
        self.heading.value = f"<h4>{escape(customer_id)} in {escape(program_id)}</h4>"
        self._statement(customer_id)
        self._close_propose()

    def _pool_daily(self, program_id: str, pool_id: str) -> pd.DataFrame:
        """The daily sums of a pool's members in a program (a few rows of a large table).

        Members are found by the program's index and their pool (no scan of the whole
        table's text); their rows are read from the cache's daily sums without reading
        the rest.
        """
        if self._member_codes is None:
            self._member_codes = {}
        codes = self._member_codes
        pi = self.programs.ids.index(program_id) if program_id in self.programs.ids else -1
        if pi not in codes:  # the program's members and their pools, once
            mem = self.reduction.members
            rows = np.flatnonzero(mem["program_idx"].to_numpy(dtype=np.int64) == pi)
            codes[pi] = (rows, mem["pool_id"].iloc[rows].astype(str).to_numpy())
        rows, pools = codes[pi]
        ids = rows[pools == pool_id]
        cols = ["member", "date", "net_amount", "quantity"]
        if self.cache is not None:
            return self.cache.daily_rows(ids, columns=cols)
        ds = self.reduction.daily
        return ds[np.isin(ds["member"].to_numpy(dtype=np.int64), ids)][cols]

    def _rows_index(self):
        """The forecast's row of each accrual row, and the accrual's rows of each customer.

        Built at the first drill-down; a click then hands the plot and the statement the
        customer's few rows instead of the whole tables to search.
        """
        if self._rows_of is None:
            from rebatelab.review.frames import align

            acc = self.accrual
            fc_row = align(acc, self.forecast)
            codes, ids = pd.factorize(acc["customer_id"].astype(str).to_numpy())
            order = np.argsort(codes, kind="stable")
            bounds = np.searchsorted(codes[order], np.arange(len(ids) + 1))
            self._rows_of = (fc_row, pd.Index(ids), order, bounds)
        return self._rows_of

    def _customer_rows(self, customer_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The accrual's and the forecast's rows of one customer (every program)."""
        last = getattr(self, "_last_customer", None)
        if last is not None and last[0] == customer_id:  # the plot's and the statement's
            return last[1]
        fc_row, ids, order, bounds = self._rows_index()
        k = ids.get_indexer([customer_id])[0]
        pos = order[bounds[k] : bounds[k + 1]] if k >= 0 else np.array([], dtype=np.int64)
        out = (self.accrual.iloc[pos], self.forecast.iloc[fc_row[pos]])
        self._last_customer = (customer_id, out)
        return out

    def _fan(self, ax, program_id: str, customer_id: str, pool_id: str) -> None:
        acc, fc = self._customer_rows(customer_id)
        plot_forecast_fan(acc, fc, program_id, customer_id, data=self.reduction,
                          currency=self.currency, ax=ax,
                          daily=self._pool_daily(program_id, pool_id))  # fmt: skip
        ax.set_xlabel("date")
        ax.yaxis.set_major_formatter("{x:,.0f}")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=5, fontsize="small",
                  frameon=False)  # fmt: skip

    def _draw_drilldown(self, program_id: str, customer_id: str, tier: int,
                        pool_id: str) -> None:  # fmt: skip
        """The fan (left) and the program's money map with the customer marked (right).

        The money map of a program is drawn once and kept as pixels (with the fan's panel
        left blank); a click in the same program redraws only the fan's panel and the mark.
        """
        self.images["drilldown"].layout.display = None
        kept = self._drill_layers.pop(program_id, None)
        if kept is not None:
            self._drill_layers[program_id] = kept  # the latest last
            self._layers["drilldown"] = kept
            fig = kept[0]
            fan, mm = fig.axes[:2]
            fan.clear()
            self._fan(fan, program_id, customer_id, pool_id)
            fan._autotitlepos = False  # the title at the top edge: no search above the ticks
            mark = mark_money_map(mm, tier, customer_id)
            self.figures["drilldown"] = fig
            self._move("drilldown", [fan, *mark])
            return
        fig, axes = self._figure("drilldown", program_id, ncols=2, width=11.0, height=4.6)
        self._fan(axes[0], program_id, customer_id, pool_id)
        plot_money_map(self.money_map, program_id, ax=axes[1])
        mark = mark_money_map(axes[1], tier, customer_id)

        def plain():  # the background: the map with a plain bar, no label, no fan
            hidden = [axes[0], *mark[1:]]
            for a in hidden:
                a.set_visible(False)
            edge = [(b.get_edgecolor(), b.get_linewidth()) for b in mark[:1]]
            for b in mark[:1]:
                b.set_edgecolor(b._plain_edge[0])
                b.set_linewidth(b._plain_edge[1])

            def undo():
                for a in hidden:
                    a.set_visible(True)
                for b, (color, width) in zip(mark[:1], edge, strict=True):
                    b.set_edgecolor(color)
                    b.set_linewidth(width)

            return undo

        self._show_layered("drilldown", fig, [axes[0], *mark], settle=True, plain=plain)
        self._drill_layers[program_id] = self._layers["drilldown"]
        while len(self._drill_layers) > DRILL_PROGRAMS_KEPT:  # the oldest goes
            self._drill_layers.pop(next(iter(self._drill_layers)))

    def open_propose(self) -> None:
        """Show the change-request panel for the customer drilled down to."""
        if self.selected is None or not hasattr(self, "_propose_box"):
            return
        if self.propose is None:  # opened from a cache: the lines are read now, once
            self.propose = ProposePanel(data=self.cache.data(), **self._propose_args)
            self._propose_box.children = [self.propose.widget]
        pid, cid = self.selected
        self.propose.show(cid, pid)
        self.propose.widget.layout.display = None

    def _close_propose(self) -> None:
        if hasattr(self, "propose_button"):
            if self.propose is not None:
                self.propose.widget.layout.display = "none"
            self.propose_button.description = f"Propose a change for {self.selected[1]}" if (
                self.selected
            ) else "Propose a change for this customer"  # fmt: skip

    def _drill_customer_only(self, program_id: str, customer_id: str) -> None:
        self.selected = (program_id, customer_id)
        self.figures.pop("drilldown", None)
        self.images["drilldown"].layout.display = "none"
        self.heading.value = (
            f"<h4>{escape(customer_id)}: not enrolled in {escape(program_id)}</h4>"
            "<p>Their statement below shows the programs they are in; propose the enrollment "
            "below.</p>"
        )
        self._statement(customer_id)
        self._close_propose()

    def _statement(self, customer_id: str) -> None:
        acc, fc = self._customer_rows(customer_id)
        try:
            page = statement(customer_id, acc, fc, data=self.reduction,
                             currency=currency_symbol(self.currency))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - a customer in no program: say so
            self.detail.value = f"<p>{escape(str(exc))}</p>"
            return
        n = len(acc)
        # tall enough for every row before the page loads; then the page's own height
        height = 260 + 70 * n
        self.detail.value = (
            f"<iframe class='rl-statement' srcdoc=\"{escape(page, quote=True)}\" "
            f"title='statement' style='width:100%;height:{height}px;border:1px solid #dde3ea' "
            'onload="try{this.style.height=(this.contentDocument.documentElement'
            ".scrollHeight+24)+'px'}catch(e){}\"></iframe>"
        )


#: The former name of the view (it showed the opportunities only).
OpportunityReview = ReviewDashboard
