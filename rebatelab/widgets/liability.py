"""Finance's view: the liability with intervals, the constraint, the roll-forward, xlsx export."""

from __future__ import annotations

import html
import warnings
from dataclasses import replace
from pathlib import Path

import ipywidgets as w
import pandas as pd

from rebatelab.engine.accrual import accrue
from rebatelab.engine.stage_one import Reduction
from rebatelab.finance.liability import (
    LiabilityOptions,
    align_forecast,
    liability_forecast,
    liability_from,
    reduction_for,
    settle_forecast,
)
from rebatelab.plotting.liability import (
    plot_liability,
    plot_rollforward,
    plot_total_distribution,
)
from rebatelab.widgets._base import ALL, View, currency_of, html_table, money, new_figure
from rebatelab.workspace.close import ledger

__all__ = ["LiabilityForecast"]

_AMOUNTS = ["accrued", "expected", "most_likely", "p10", "p50", "p90", "constrained"]


class LiabilityForecast(View):
    """Liability by program and in total, with the percentile control and the roll-forward.

    The lines are reduced once (or stage one's Reduction is given), and the accrual and the
    forecast are computed once from it, as :func:`rebatelab.liability` does
    (:func:`~rebatelab.finance.liability.liability_forecast`, the same quantile levels);
    moving a control recomputes only
    :func:`~rebatelab.finance.liability.liability_from`. At the default controls the figures
    are :func:`rebatelab.liability`'s, to the cent.

    Parameters
    ----------
    data : RebateData or Reduction
        The data, or stage one's result (then ``programs`` and ``as_of`` are its own).
    programs : ProgramSet, optional
        Required with a RebateData.
    as_of : date-like, optional
        Default: the last transaction date (with a RebateData).
    method : str, optional
        Forecast method (:func:`rebatelab.forecast`); default its default.
    workspace : str or Path, optional
        A ledger workspace (DuckDB file written by ``rebatelab close``) for the roll-forward.
    export_dir : str or Path
        Folder the *Export to xlsx* button writes ``liability_<as_of>.xlsx`` to.

    Attributes
    ----------
    percentile : ipywidgets.FloatSlider
        Level [fraction] of the constrained estimate (default 0.80).
    common_shock : ipywidgets.FloatSlider
        sd of the log of a factor shared by all customers' spend still to come (0 = independent).
    rollforward_program : ipywidgets.Dropdown
        The program whose roll-forward is shown.
    export : ipywidgets.Button
        Writes the liability views to xlsx (one sheet per view).
    result : Liability
        The last liability computed (:func:`~rebatelab.finance.liability.liability_from`).
    reduction : Reduction
        Stage one's result the view reads.
    options : LiabilityOptions
        The options at the controls' values.
    rollforward : DataFrame or None
        The ledger's roll-forward (all programs), None without a workspace.
    """

    def __init__(
        self, data, programs=None, *, as_of=None, method=None, workspace=None, export_dir="."
    ):
        super().__init__()
        if not isinstance(data, Reduction) and as_of is None:
            as_of = data.date_range[1]
        red = reduction_for(data, programs, as_of)
        self.data = data
        self.reduction = red
        self.programs = red.programs
        self.as_of = red.as_of
        self.currency = currency_of(data)  # "" for a Reduction (it carries no lines)
        self.export_dir = Path(export_dir)
        self.exported_path: Path | None = None
        self.options = LiabilityOptions(method=method)
        self.accrual = accrue(red)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # shown once by the forecast itself
            fc = liability_forecast(red, method=method, n_levels=self.options.n_levels)
        self.forecast = settle_forecast(self.accrual, align_forecast(self.accrual, fc))
        self.workspace = Path(workspace) if workspace is not None else None
        self.rollforward = None if self.workspace is None else ledger(self.workspace).rollforward
        self.result = None

        style = {"description_width": "initial"}
        self.percentile = w.FloatSlider(
            value=0.8, min=0.5, max=0.99, step=0.01, readout_format=".0%",
            description="Constraint percentile", style=style, continuous_update=False,
            layout=w.Layout(width="420px"),
        )  # fmt: skip
        self.common_shock = w.FloatSlider(
            value=0.0, min=0.0, max=0.5, step=0.05, readout_format=".2f",
            description="Common shock (sd of log factor)", style=style,
            continuous_update=False, layout=w.Layout(width="420px"),
        )  # fmt: skip
        rf_programs = (
            [] if self.rollforward is None else pd.unique(self.rollforward["program_id"]).tolist()
        )
        self.rollforward_program = w.Dropdown(
            options=[ALL, *rf_programs], description="Roll-forward of", style=style
        )
        self.export = w.Button(
            description="Export to xlsx", icon="download", layout=w.Layout(width="160px")
        )
        self.table = w.HTML()
        self.rollforward_table = w.HTML()
        self.percentile.add_class("rl-percentile")
        self.common_shock.add_class("rl-shock")
        self.rollforward_program.add_class("rl-rf-program")
        self.export.add_class("rl-export")
        self.table.add_class("rl-liability-table")

        rf_box = (
            [self.rollforward_program, self.rollforward_table, self._image("rollforward")]
            if self.rollforward is not None
            else [w.HTML("<i>No ledger workspace given: close periods with "
                         "<code>rebatelab close</code> to see the roll-forward.</i>")]
        )  # fmt: skip
        self.widget = w.VBox(
            [
                self._css(),
                w.HTML(
                    f"<h3>Rebate liability as of {self.as_of.date()} "
                    f"(forecast: {html.escape(str(self.forecast['method'].iloc[0]))})</h3>"
                ),
                w.HBox([w.VBox([self.percentile, self.common_shock]), self.export]),
                self.status,
                self.table,
                self._image("liability"),
                w.HTML("<h4>Roll-forward from the ledger</h4>"),
                *rf_box,
            ]
        )
        self.widget.add_class("rl-liability")
        self._watch(self.percentile, self.common_shock)
        self._watch(self.rollforward_program, handler=self.refresh_rollforward)
        self.export.on_click(lambda _b: self._guarded(self.export_xlsx))
        self._guarded(self.refresh)
        self._guarded(self.refresh_rollforward)

    def compute(self):
        """The liability at the controls' percentile and common shock."""
        self.options = replace(
            self.options,
            percentile=float(self.percentile.value),
            common_shock=float(self.common_shock.value),
        )
        res = liability_from(
            self.accrual, self.forecast, programs=self.programs, options=self.options
        )
        res.as_of = self.as_of
        return res

    def refresh(self) -> None:
        """Recompute the liability and redraw the table, the chart and the total line."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # grid coarseness note, in notes
            self.result = res = self.compute()
        cur = self.currency or "currency"
        pct = f"constrained ({self.percentile.value:.0%})"
        shown = res.by_program[["program_id", "customers", *_AMOUNTS]].rename(
            columns={"constrained": pct, "most_likely": "most likely", "program_id": "program"}
        )
        self.table.value = html_table(
            shown,
            formats={c: money for c in shown.columns if c not in ("program", "customers")},
        )
        fig, axes = new_figure(ncols=2, width=11.0, height=4.8)
        plot_liability(res.by_program, currency=cur, ax=axes[0])
        axes[0].set_title("By program")
        plot_total_distribution(res.distribution, res.total, currency=cur, ax=axes[1])
        axes[1].set_title("Total")
        self._show("liability", fig)
        t = res.total.iloc[0]
        c = self.currency
        self._ok(
            f"<b>Total</b>: accrued {money(t['accrued'], c)}; expected {money(t['expected'], c)}"
            f"; most likely {money(t['most_likely'], c)}; p10\u2013p90 {money(t['p10'])}"
            f"\u2013{money(t['p90'], c)}; {pct} <b>{money(t['constrained'], c)}</b>"
        )

    def refresh_rollforward(self) -> None:
        """Show the roll-forward of the selected program (all programs summed for (all))."""
        if self.rollforward is None:
            return
        rf = self.rollforward
        cols = ["opening", "expense", "payments", "closing"]
        if self.rollforward_program.value == ALL:
            shown = rf.groupby("period", sort=True)[cols].sum().reset_index()
            shown["ties"] = rf.groupby("period", sort=True)["ties"].all().to_numpy()
        else:
            shown = rf[rf["program_id"] == self.rollforward_program.value][
                ["period", *cols, "ties"]
            ]
        self.rollforward_table.value = html_table(
            shown, formats={c: "{:,.2f}".format for c in cols}
        )
        fig, axes = new_figure(width=8.0, height=3.4)
        plot_rollforward(shown, currency=self.currency or "currency", ax=axes[0])
        axes[0].set_title(f"Roll-forward: {self.rollforward_program.value}")
        self._show("rollforward", fig)

    def export_xlsx(self) -> Path:
        """Write the liability views to ``<export_dir>/liability_<as_of>.xlsx``; return it."""
        path = self.result.to_xlsx(self.export_dir / f"liability_{self.as_of.date()}.xlsx")
        self.exported_path = path
        self._ok(f"Exported to <code>{html.escape(str(path))}</code>")
        return path
