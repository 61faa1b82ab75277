"""The sales manager's view: ranked opportunities, filters, and a drill-down to one customer."""

from __future__ import annotations

import warnings

import ipywidgets as w
import pandas as pd

from rebatelab.engine.accrual import accrue
from rebatelab.engine.stage_one import Reduction, reduce
from rebatelab.forecasting.projection import forecast
from rebatelab.plotting.review import plot_forecast_fan, plot_money_map
from rebatelab.report.html import escape
from rebatelab.report.statement import statement
from rebatelab.review.moneymap import money_map
from rebatelab.review.opportunities import opportunities
from rebatelab.widgets._base import ALL, View, currency_of, html_table, money, new_figure

__all__ = ["OpportunityReview"]

THOUSANDS = "{x:,.0f}"
_SHOWN = {
    "rank": "rank",
    "customer_id": "customer",
    "name": "name",
    "rep": "rep",
    "region": "region",
    "program_id": "program",
    "days_left": "days left",
    "p_next_tier": "P(next tier)",
    "value_at_stake": "value at stake",
    "sentence": "what to say",
}


def _choices(values) -> list[str]:
    return [ALL, *sorted(pd.Series(values).dropna().astype(str).unique())]


class OpportunityReview(View):
    """Ranked opportunities with filters, and one customer's statement and forecast fan.

    The lines are reduced once (stage one's :class:`~rebatelab.engine.stage_one.Reduction`),
    the accrual and the forecast computed once from it; the filters call
    :func:`rebatelab.review.opportunities.opportunities` again on them.

    Parameters
    ----------
    data : Reduction or RebateData
        Stage one's result (then ``programs`` and ``as_of`` are its own), or the data.
    programs : ProgramSet, optional
        With a RebateData (a path is read by :func:`rebatelab.reduce`).
    as_of : date-like, optional
        With a RebateData; default: the last transaction date.
    method : str, optional
        Forecast method (:func:`rebatelab.forecasting`).
    top : int
        Rows of the ranked table.

    Attributes
    ----------
    rep, region, program : ipywidgets.Dropdown
        Filters; ``(all)`` keeps everything.
    days_left : ipywidgets.IntRangeSlider
        Keep rows whose period has between these many days left [days].
    customer : ipywidgets.Dropdown
        The drill-down: one of the listed opportunities (``(program_id, customer_id)``); shows
        its forecast fan (:func:`rebatelab.plotting.review.plot_forecast_fan`), its program's money
        map (:func:`rebatelab.plotting.review.plot_money_map`) and the customer's statement
        (:func:`rebatelab.report.statement.statement`).
    result : DataFrame
        The filtered, ranked opportunities (:func:`rebatelab.review.opportunities.opportunities`).
    reduction : Reduction
        Stage one's result everything above is computed from.
    """

    def __init__(self, data, programs=None, as_of=None, *, method=None, top: int = 12):
        super().__init__()
        if isinstance(data, Reduction):
            red = data
        else:
            day = as_of if as_of is not None else data.date_range[1]
            red = reduce(data, programs, day)
        self.reduction = red
        self.programs = red.programs
        self.as_of = red.as_of
        self.currency = currency_of(data)
        self.top = top
        self.accrual = accrue(red)
        kw = {} if method is None else {"method": method}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            self.forecast = forecast(red, **kw)
        self.money_map = money_map(self.accrual, self.forecast, programs=self.programs)
        self.result: pd.DataFrame | None = None
        cust = red.customers
        max_days = int(self.accrual["days_left"].max()) if len(self.accrual) else 0

        style = {"description_width": "initial"}
        self.rep = w.Dropdown(options=_choices(cust.get("rep", [])), description="Rep")
        self.region = w.Dropdown(options=_choices(cust.get("region", [])), description="Region")
        self.program = w.Dropdown(options=[ALL, *self.programs.ids], description="Program")
        self.days_left = w.IntRangeSlider(
            value=(0, max_days), min=0, max=max(max_days, 1), description="Days left",
            continuous_update=False, style=style,
        )  # fmt: skip
        self.customer = w.Dropdown(options=[], description="Drill down", style=style,
                                   layout=w.Layout(width="480px"))  # fmt: skip
        self.table = w.HTML()
        self.detail = w.HTML()
        for name in ("rep", "region", "program", "days_left", "customer", "table", "detail"):
            getattr(self, name).add_class(f"rl-{name.replace('_', '-')}")

        self.widget = w.VBox(
            [
                self._css(),
                w.HTML(
                    f"<h3>Opportunities as of {self.as_of.date()}: who to call, what to say</h3>"
                ),  # fmt: skip
                w.HBox([self.rep, self.region, self.program]),
                self.days_left,
                self.status,
                self.table,
                w.HTML("<h4>Drill-down</h4>"),
                self.customer,
                self._image("drilldown"),
                self.detail,
            ]
        )
        self.widget.add_class("rl-review")
        self._watch(self.rep, self.region, self.program, self.days_left)
        self._watch(self.customer, handler=self.refresh_customer)
        self._guarded(self.refresh)

    @staticmethod
    def _value(control):
        return None if control.value == ALL else control.value

    def compute(self) -> pd.DataFrame:
        """The ranked opportunities under the filters."""
        opp = opportunities(
            self.accrual,
            self.forecast,
            data=self.reduction,
            rep=self._value(self.rep),
            region=self._value(self.region),
            program=self._value(self.program),
        )
        lo, hi = self.days_left.value
        return opp[opp["days_left"].between(lo, hi).to_numpy()]

    def refresh(self) -> None:
        """Re-rank under the filters; refill the table and the drill-down choices."""
        self.result = opp = self.compute()
        shown = opp.head(self.top)[[c for c in _SHOWN if c in opp.columns]].rename(columns=_SHOWN)
        self.table.value = html_table(
            shown,
            formats={
                "P(next tier)": "{:.0%}".format,
                "value at stake": "{:,.0f}".format,
            },
            max_rows=self.top,
            empty="No opportunity under these filters.",
        )
        total = float(opp["value_at_stake"].sum())
        noun = "opportunity" if len(opp) == 1 else "opportunities"
        more = f"; showing the top {self.top}" if len(opp) > self.top else ""
        self._ok(f"<b>{len(opp):,} {noun}</b>, value at stake {money(total, self.currency)}{more}")
        options = [
            (f"{r.rank}. {r.customer_id} ({r.program_id})", (r.program_id, r.customer_id))
            for r in opp.head(self.top).itertuples()
        ]
        keep = self.customer.value
        self._muted = True  # new options fire the drill-down observer: draw once, below
        try:
            self.customer.options = options
            values = [v for _, v in options]
            self.customer.value = keep if keep in values else (values[0] if values else None)
        finally:
            self._muted = False
        self.refresh_customer()

    def refresh_customer(self) -> None:
        """Draw the selected customer's forecast fan and program money map; show the statement."""
        if getattr(self, "_muted", False):
            return
        if self.customer.value is None:
            self.detail.value = ""
            self.figures.pop("drilldown", None)
            self.images["drilldown"].value = b""
            return
        pid, cid = self.customer.value
        acc, fc = self.accrual, self.forecast
        fig, axes = new_figure(ncols=2, width=11.0, height=4.4)
        plot_forecast_fan(acc, fc, pid, cid, data=self.reduction, ax=axes[0])
        unit = "units" if self.programs[pid].basis == "quantity" else self.currency or "currency"
        axes[0].set_ylabel(f"basis [{unit}]")
        axes[0].set_xlabel("date")
        axes[0].yaxis.set_major_formatter(THOUSANDS)
        axes[0].legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=5, fontsize="small", frameon=False
        )  # fmt: skip (keep the rungs visible)
        plot_money_map(self.money_map, pid, ax=axes[1])
        self._show("drilldown", fig)
        page = statement(cid, acc, fc, data=self.reduction)
        self.detail.value = (
            f"<iframe srcdoc=\"{escape(page, quote=True)}\" title='statement' "
            "style='width:100%;height:560px;border:1px solid #dde3ea'></iframe>"
        )
