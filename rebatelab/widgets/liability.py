"""Finance's view: the liability with intervals, the ledger's roll-forward, an xlsx download."""

from __future__ import annotations

import base64
import html
import warnings
from dataclasses import replace
from pathlib import Path

import ipywidgets as w
import numpy as np
import pandas as pd

from rebatelab.engine.accrual import accrue
from rebatelab.engine.stage_one import Reduction
from rebatelab.errors import LedgerError, ParameterError
from rebatelab.finance.liability import (
    LiabilityOptions,
    align_forecast,
    liability_forecast,
    liability_from,
    reduction_for,
    settle_forecast,
)
from rebatelab.money import DEFAULT_CURRENCY
from rebatelab.plotting.liability import (
    plot_liability,
    plot_liability_over_time,
    plot_rollforward,
    plot_total_distribution,
)
from rebatelab.report.finance import liability_sheets, rollforward_report
from rebatelab.report.xlsx import workbook_bytes, write_workbook
from rebatelab.widgets._base import ALL, View, currency_of, html_table, money, new_figure
from rebatelab.workspace.close import ledger
from rebatelab.workspace.store import WORKSPACE_NAME

__all__ = ["LiabilityForecast", "XLSX_MIME"]

_AMOUNTS = ["accrued", "expected", "most_likely", "p10", "p50", "p90", "constrained"]
_RF = ["opening", "provision_current", "adjustment_prior", "payments", "closing"]

#: The media type of an xlsx workbook (the download link's data: URI).
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _workspace_of(data, workspace) -> Path | None:
    """The workspace named, else ``rebatelab.duckdb`` in the data folder (None: no folder)."""
    if workspace is not None:
        return Path(workspace)
    src = str(getattr(data, "source", "") or "")
    if not src or src.startswith("<"):
        return None
    return Path(src) / WORKSPACE_NAME


def _constrained_artists(fig):
    """The marks a new percentile moves: the programs' marks, the total's line and its label."""
    ax_p, ax_t = fig.axes[:2]
    bars = next(ln for ln in ax_p.get_lines() if ln.get_label() == "constrained")
    line = next(ln for ln in ax_t.get_lines() if ln.get_label().startswith("constrained ("))
    legend = ax_t.get_legend()
    text = next(x for x in legend.get_texts() if x.get_text().startswith("constrained ("))
    return bars, line, text


class LiabilityForecast(View):
    """Liability by program and in total, the ledger's roll-forward, and an xlsx download.

    The lines are reduced once (or stage one's Reduction is given), and the accrual and the
    forecast are computed once from it, as :func:`rebatelab.liability` does; moving a control
    recomputes only :func:`~rebatelab.finance.liability.liability_from`, and each result is
    kept by its inputs (percentile, common shock), so going back to a setting is instant. At
    the default controls the figures are :func:`rebatelab.liability`'s, to the cent.

    Parameters
    ----------
    data : RebateData or Reduction
        The data, or stage one's result (then ``programs`` and ``as_of`` are its own). Apply
        the workspace's approved change requests first
        (:func:`rebatelab.workspace.apply_workspace`) so that the terms are the close's.
    programs : ProgramSet, optional
        Required with a RebateData.
    as_of : date-like, optional
        Default: the last transaction date (with a RebateData).
    method : str, optional
        Forecast method (:func:`rebatelab.forecast`); default its default.
    workspace : str or Path, optional
        The ledger workspace (written by ``rebatelab close``); default ``rebatelab.duckdb`` in
        the data folder. It is only read: without closed periods the view says so.
    export_dir : str or Path, optional
        Folder :meth:`export_xlsx` writes to when called without a path (the button does not
        write on the server: it offers the workbook as a browser download).
    terms : str, optional
        Which terms the data carries, for the workbook's cover (e.g. "program file + approved
        change requests #3, #5").

    Attributes
    ----------
    percentile : ipywidgets.FloatSlider
        Level [fraction] of the constrained estimate (default 0.80).
    common_shock : ipywidgets.FloatSlider
        sd of the log of a factor shared by all customers' spend still to come (0 = independent).
    rollforward_program : ipywidgets.Dropdown
        The program whose roll-forward is shown.
    export : ipywidgets.Button
        Builds the formatted workbook and shows its download link (``download``).
    download : ipywidgets.HTML
        The link: a ``data:`` URI of the xlsx workbook, saved by the browser.
    result : Liability
        The last liability computed.
    reduction : Reduction
    options : LiabilityOptions
        The options at the controls' values.
    workspace : Path or None
        The workspace read.
    rollforward : DataFrame or None
        The ledger's roll-forward (all programs), None without closed periods.
    history : DataFrame or None
        Per closed period: ``booked, accrued, closing`` [currency] (the chart's data).
    ledger_note : str
        What the roll-forward section says (the workspace read, or why there is none).
    """

    def __init__(
        self,
        data=None,
        programs=None,
        *,
        as_of=None,
        method=None,
        workspace=None,
        export_dir=None,
        terms: str | None = None,
        cache=None,
    ):
        super().__init__()
        self.cache = cache
        if cache is not None:
            red = cache.reduction()
            method = cache.method
            data = red if data is None else data
        else:
            if not isinstance(data, Reduction) and as_of is None:
                as_of = data.date_range[1]
            red = reduction_for(data, programs, as_of)
        self.data = data
        self.reduction = red
        self.programs = red.programs
        self.as_of = red.as_of
        if cache is not None:  # the lines' currency code, stored with the results
            self.currency = cache.currency_code()
        else:
            self.currency = currency_of(data)  # "" for a Reduction (it carries no lines)
        self.export_dir = None if export_dir is None else Path(export_dir)
        self.terms = terms or "the program file as given to the view"
        self.exported_path: Path | None = None
        self.download_bytes: bytes | None = None
        self.options = LiabilityOptions(method=method)
        self._accrual = self._forecast = None
        if cache is None:
            self._accrual = accrue(red)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # shown once by the forecast
                fc = liability_forecast(red, method=method, n_levels=self.options.n_levels)
            self._forecast = settle_forecast(self._accrual, align_forecast(self._accrual, fc))
        # from a cache, the accrual and the forecast are read when first used: the stored
        # distributions give every figure shown (500,000 contracts' forecast take 2 s to read)
        self._cache: dict[tuple[float, float], object] = {}
        self._drawn_shock: float | None = None
        # the figure's background pixels per common shock drawn (at most the slider's 11)
        self._backgrounds: dict[float, tuple] = {}
        self.result = None
        self.workspace = _workspace_of(data, workspace)
        self._read_ledger()

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
        self.download = w.HTML()
        self.table = w.HTML()
        self.rollforward_table = w.HTML()
        self.percentile.add_class("rl-percentile")
        self.common_shock.add_class("rl-shock")
        self.rollforward_program.add_class("rl-rf-program")
        self.export.add_class("rl-export")
        self.download.add_class("rl-download")
        self.table.add_class("rl-liability-table")
        self.rollforward_table.add_class("rl-rf-table")

        note = w.HTML(f"<i>{html.escape(self.ledger_note)}</i>")
        note.add_class("rl-ledger-note")
        rf_box = (
            [
                note,
                self._image("history"),
                self.rollforward_program,
                self.rollforward_table,
                self._image("rollforward"),
            ]
            if self.rollforward is not None
            else [note]
        )
        self.widget = w.VBox(
            [
                self._css(),
                w.HTML(
                    f"<h3>Rebate liability as of {self.as_of.date()} "
                    f"(forecast: {html.escape(str(self._method_name()))})</h3>"
                ),
                w.HBox([w.VBox([self.percentile, self.common_shock]), self.export, self.download]),
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
        self.export.on_click(lambda _b: self._guarded(self._offer_download))
        self._guarded(self.refresh)
        self._guarded(self.refresh_history)
        self._guarded(self.refresh_rollforward)

    @classmethod
    def from_folder(cls, folder, programs=None, as_of=None, *, method=None, workspace=None,
                    apply_changes: bool = True, cache_dir=None,
                    **kwargs) -> LiabilityForecast:  # fmt: skip
        """The view of a data folder, opened from its cache (``DATA/.rebatelab-cache``).

        The terms are the program file's plus the workspace's approved change requests in
        force on ``as_of`` (as ``rebatelab close`` applies them), unless ``apply_changes`` is
        False. Results stored by ``rebatelab precompute`` (or an earlier opening) for the
        same files, terms, requests in force, as-of day and method are read; anything else is
        computed and stored. Other keyword arguments are the view's.

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
        workspace : str or Path, optional
            Default ``rebatelab.duckdb`` in the folder.
        apply_changes : bool
            Apply the workspace's approved change requests (default True).
        cache_dir : str or Path, optional
            Where the cache lives (default ``folder / ".rebatelab-cache"``).
        """
        from rebatelab.report.dashboard_inputs import dashboard_cache

        cache, terms = dashboard_cache(folder, programs, as_of, method=method,
                                       workspace=workspace, apply_changes=apply_changes,
                                       cache_dir=cache_dir)  # fmt: skip
        ws = Path(workspace) if workspace is not None else Path(folder) / WORKSPACE_NAME
        kwargs.setdefault("terms", terms)
        return cls(cache=cache, workspace=ws, **kwargs)

    @property
    def accrual(self) -> pd.DataFrame:
        """:func:`rebatelab.accrue` of the reduction (read from the cache when first used)."""
        if self._accrual is None:
            self._accrual = self.cache.accrual()
        return self._accrual

    @property
    def forecast(self) -> pd.DataFrame:
        """The liability's forecast, aligned with :attr:`accrual` and settled (lazily read)."""
        if self._forecast is None:
            fc = self.cache.liability_forecast(n_levels=self.options.n_levels)
            self._forecast = settle_forecast(self.accrual, align_forecast(self.accrual, fc))
        return self._forecast

    def _method_name(self) -> str:
        """The forecast method's name, from the first result when read from the cache."""
        if self._forecast is None and self.cache is not None:
            name = getattr(self.compute(), "method", None)
            if name:
                return str(name)
        return str(self.forecast["method"].iloc[0])

    # -- the ledger ------------------------------------------------------------------------
    def _read_ledger(self) -> None:
        self.view = None
        self.rollforward = None
        self.history = None
        ws = self.workspace
        if ws is None:
            self.ledger_note = (
                "No ledger workspace: the data was not loaded from a folder; pass workspace= "
                "to show a roll-forward."
            )
            return
        if not ws.exists():
            self.ledger_note = (
                f"No roll-forward yet: no period has been closed ({ws} does not exist). Close "
                "one with `rebatelab close --data DIR --period YYYY-MM`."
            )
            return
        try:
            view = ledger(ws)
        except LedgerError as exc:
            self.ledger_note = f"The ledger cannot be read: {exc}"
            return
        if not len(view.closes):
            self.ledger_note = (
                f"No roll-forward yet: {ws} holds no closed period. Close one with "
                "`rebatelab close --data DIR --period YYYY-MM`."
            )
            return
        self.view = view
        self.rollforward = view.rollforward
        # the filing layout once per level (a control change only selects rows)
        self._filing = {by: rollforward_report(view, by=by) for by in ("program", "total")}
        snap = view.snapshot
        per = snap.groupby(snap["period"].astype(str), sort=True)[["booked", "accrued"]].sum()
        closing = view.rollforward.groupby(view.rollforward["period"].astype(str))["closing"].sum()
        hist = per.join(closing, how="outer").fillna(0.0).reset_index(names="period")
        self.history = hist[["period", "booked", "accrued", "closing"]]
        periods = view.closes["period"].astype(str).tolist()
        ties = "ties to the cent" if view.ties else "does NOT tie: check the ledger"
        self.ledger_note = (
            f"From the ledger {ws}: {len(periods)} closed period(s), {periods[0]} to "
            f"{periods[-1]}; the roll-forward {ties}."
        )

    # -- the liability ---------------------------------------------------------------------
    def compute(self):
        """The liability at the controls' percentile and common shock (kept by those inputs).

        The distributions are computed once per common shock; another percentile only reads
        another quantile of them (:meth:`~rebatelab.finance.liability.Liability.at_percentile`).
        """
        key = (round(float(self.percentile.value), 6), round(float(self.common_shock.value), 6))
        self.options = replace(self.options, percentile=key[0], common_shock=key[1])
        if key not in self._cache:
            base = next((r for (_, s), r in self._cache.items() if s == key[1]), None)
            if base is None:
                base = self._distributions(key[1])
            self._cache[key] = (
                base if base.options.percentile == key[0] else (base.at_percentile(key[0]))
            )
        return self._cache[key]

    def _distributions(self, shock: float):
        """The liability at the default percentile for one common shock (from the cache)."""
        opts = replace(self.options, percentile=LiabilityOptions().percentile,
                       common_shock=shock)  # fmt: skip
        if self.cache is not None:
            return self.cache.liability(opts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # grid note, in notes
            res = liability_from(self.accrual, self.forecast, programs=self.programs,
                                 options=opts)  # fmt: skip
        res.as_of = self.as_of
        return res

    def refresh(self) -> None:
        """Recompute the liability and redraw the table, the chart and the total line."""
        self.result = res = self.compute()
        self.download.value = ""  # a workbook of other figures is not offered any more
        cur = self.currency or DEFAULT_CURRENCY
        pct = f"constrained ({self.percentile.value:.0%})"
        shown = res.by_program[["program_id", "customers", *_AMOUNTS]].rename(
            columns={"constrained": pct, "most_likely": "most likely", "program_id": "program"}
        )
        self.table.value = html_table(
            shown,
            formats={c: money for c in shown.columns if c not in ("program", "customers")},
        )
        if not self._move_constrained(res) and not self._update_figure(res):
            fig, axes = self._figure("liability", ncols=2, width=11.0, height=4.8)
            plot_liability(res.by_program, currency=cur, ax=axes[0])
            axes[0].set_title("By program")
            plot_total_distribution(res.distribution, res.total, currency=cur, ax=axes[1])
            axes[1].set_title("Total")
            self._drawn_shock = float(res.options.common_shock)
            self._show_layered("liability", fig, _constrained_artists(fig))
            limits = (axes[0].get_xlim(), axes[1].get_xlim())
            self._backgrounds = {self._drawn_shock: (fig, limits, self._layers["liability"][2])}
        t = res.total.iloc[0]
        unit = f" {self.currency}" if self.currency else ""

        def cts(col):  # to the cent: the figures the CLI, the API and the close give
            return f"{t[col]:,.2f}"

        self._ok(
            f"<b>Total</b>: accrued {cts('accrued')}; expected {cts('expected')}; most likely "
            f"{cts('most_likely')}; p10\u2013p90 {cts('p10')}\u2013{cts('p90')}{unit}; {pct} "
            f"<b>{cts('constrained')}{unit}</b>"
        )

    def _move_constrained(self, res) -> bool:
        """Another percentile at the same common shock: move only the constrained marks.

        Everything else in the figure is the same, so it is not drawn again; a mark that
        would leave the axes' range gives a full redraw.
        """
        if self._drawn_shock != float(res.options.common_shock) or "liability" not in self.figures:
            return False
        fig = self.figures["liability"]
        bars, line, text = _constrained_artists(fig)
        ax_p, ax_t = fig.axes[:2]
        new_p = res.by_program["constrained"].to_numpy(dtype=float)
        t = res.total.iloc[0]
        lo, hi = ax_p.get_xlim()
        lo_t, hi_t = ax_t.get_xlim()
        if len(new_p) != len(bars.get_xdata()) or new_p.max(initial=0) > hi or not (
            lo_t <= t["constrained"] <= hi_t
        ):  # fmt: skip
            return False
        bars.set_xdata(new_p)
        line.set_xdata([t["constrained"], t["constrained"]])
        text.set_text(f"constrained ({t['percentile']:.0%}): {t['constrained']:,.0f}")
        return self._move("liability")

    def _update_figure(self, res) -> bool:
        """Another common shock: new data in the figure's artists, one drawing, no new figure.

        The programs' intervals, marks and the total's distribution move; the axes, their
        ticks and the legends' entries are kept (creating them is most of a first drawing).
        False (a full redraw follows) when the figure shows other programs.
        """
        fig = self.figures.get("liability")
        if fig is None or "liability" not in self._layers:
            return False
        ax_p, ax_t = fig.axes[:2]
        bp = res.by_program
        y = np.arange(len(bp))[::-1]
        bars = ax_p.containers[0] if ax_p.containers else []
        lines = {ln.get_label(): ln for ln in ax_p.get_lines()}
        names = [t.get_text() for t in ax_p.get_yticklabels()]
        if (len(bars) != len(bp) or not ax_p.collections or len(ax_t.get_lines()) < 5
                or names != bp["program_id"].astype(str).tolist()):  # fmt: skip
            return False
        for bar, v in zip(bars, bp["accrued"].to_numpy(dtype=float), strict=True):
            bar.set_width(v)
        p10, p90 = bp["p10"].to_numpy(dtype=float), bp["p90"].to_numpy(dtype=float)
        ax_p.collections[0].set_segments(
            [[(a, yy), (b, yy)] for a, b, yy in zip(p10, p90, y, strict=True)]  # per program
        )
        for label, col in (("expected value", "expected"), ("most likely", "most_likely"),
                           ("constrained", "constrained")):  # fmt: skip
            lines[label].set_data(bp[col].to_numpy(dtype=float), y)
        cols = ["accrued", "expected", "most_likely", "p10", "p90", "constrained"]
        high = float(np.nanmax(bp[cols].to_numpy(dtype=float), initial=0.0))
        ax_p.set_xlim(0, high * 1.05 if high > 0 else 1.0)  # as the first drawing's autoscale
        t = res.total.iloc[0]
        dist = res.distribution
        prob = dist["level" if "level" in dist.columns else "cdf"]
        step, *marks = ax_t.get_lines()[:5]
        step.set_data(dist["value"].to_numpy(dtype=float), prob.to_numpy(dtype=float))
        texts = ax_t.get_legend().get_texts()
        for line, text, col in zip(marks, texts, ("accrued", "expected", "most_likely",
                                                  "constrained"), strict=True):  # fmt: skip
            label = (f"constrained ({t['percentile']:.0%})" if col == "constrained"
                     else col.replace("_", " "))  # fmt: skip
            line.set_xdata([t[col], t[col]])
            line.set_label(f"{label}: {t[col]:,.0f}")
            text.set_text(line.get_label())
        ax_t.relim()
        ax_t.autoscale_view(scalex=True, scaley=False)
        shock = float(res.options.common_shock)
        self._drawn_shock = shock
        limits = (ax_p.get_xlim(), ax_t.get_xlim())  # the pixels hold for these axes only
        kept = self._backgrounds.get(shock)
        if kept is not None and kept[0] is fig and np.allclose(kept[1], limits, rtol=1e-9, atol=0):
            # drawn before at these axes (autoscale's last bits aside: far below a pixel)
            _fig, canvas, _bg, moving = self._layers["liability"]
            self._layers["liability"] = (fig, canvas, kept[2], moving)
            self._move("liability", _constrained_artists(fig))
            return True
        self._show_layered("liability", fig, _constrained_artists(fig))
        self._backgrounds[shock] = (fig, limits, self._layers["liability"][2])
        return True

    def refresh_history(self) -> None:
        """Draw the liability over the closed periods."""
        if self.history is None:
            return
        fig, axes = new_figure(width=8.0, height=3.2)
        plot_liability_over_time(
            self.history, currency=self.currency or DEFAULT_CURRENCY, ax=axes[0]
        )
        axes[0].set_title("Liability over the closed periods")
        self._show("history", fig)

    def refresh_rollforward(self) -> None:
        """Show the roll-forward of the selected program (all programs summed for (all))."""
        if self.rollforward is None:
            return
        rf = self.rollforward
        cols = ["opening", "expense", "payments", "closing"]
        prog = self.rollforward_program.value
        if prog == ALL:
            shown = rf.groupby("period", sort=True)[cols].sum().reset_index()
            shown["ties"] = rf.groupby("period", sort=True)["ties"].all().to_numpy()
            filing = self._filing["total"]
        else:
            shown = rf[rf["program_id"] == prog][["period", *cols, "ties"]]
            filing = self._filing["program"]
            filing = filing[filing["program_id"] == prog].drop(columns="program_id")
        filing = filing.merge(shown[["period", "ties"]], on="period", how="left")
        names = {
            "provision_current": "provision (current-period sales)",
            "adjustment_prior": "adjustment of prior estimates",
            "payments": "payments / credits",
        }
        self.rollforward_table.value = html_table(
            filing.rename(columns=names),
            formats={names.get(c, c): "{:,.2f}".format for c in _RF},
        )
        fig, axes = new_figure(width=8.0, height=3.4)
        plot_rollforward(shown, currency=self.currency or DEFAULT_CURRENCY, ax=axes[0])
        axes[0].set_title(f"Roll-forward: {prog}")
        self._show("rollforward", fig)

    # -- export ------------------------------------------------------------------------------
    #: Most contracts the downloaded workbook lists one by one (a larger by_customer sheet
    #: takes minutes to build in the browser's request; the CLI writes it in full).
    MAX_DOWNLOAD_ROWS = 100_000

    def _workbook(self):
        sheets, cover = liability_sheets(self.result, data=self.data, terms=self.terms)
        bc = sheets["by_customer"]
        bc = bc[(bc[["accrued", "expected", "most_likely"]] != 0).any(axis=1).to_numpy()]
        if len(bc) > self.MAX_DOWNLOAD_ROWS:
            del sheets["by_customer"]
            cover["by customer"] = (
                f"{len(bc):,} contracts with an amount: left out of this download; "
                "`rebatelab liability --out FILE.csv` writes them"
            )
        else:
            sheets["by_customer"] = bc.reset_index(drop=True)
            cover["by customer"] = "contracts with a non-zero amount"
        if self.view is not None:
            sheets["rollforward"] = self._filing["program"]
        return sheets, cover

    def file_name(self) -> str:
        """``liability_<as_of>_p<percentile>.xlsx``."""
        return f"liability_{self.as_of.date()}_p{round(self.options.percentile * 100)}.xlsx"

    def _offer_download(self) -> None:
        self.prepare_download()

    def prepare_download(self) -> bytes:
        """Build the formatted workbook and show it as a browser download link; its bytes."""
        sheets, cover = self._workbook()
        raw = workbook_bytes(sheets, cover=cover, title="rebatelab liability")
        self.download_bytes = raw
        name = html.escape(self.file_name())
        uri = f"data:{XLSX_MIME};base64,{base64.b64encode(raw).decode('ascii')}"
        self.download.value = (
            f"<a class='rl-download-link' download='{name}' href='{uri}'>"
            f"Download {name}</a> ({len(raw) / 1024:,.0f} KB)"
        )
        return raw

    def export_xlsx(self, path=None) -> Path:
        """Write the formatted workbook to ``path`` (default ``export_dir``); return it."""
        if path is None:
            if self.export_dir is None:
                raise ParameterError("export_xlsx needs a path (or export_dir=)")
            path = self.export_dir / self.file_name()
        sheets, cover = self._workbook()
        self.exported_path = write_workbook(sheets, path, cover=cover, title="rebatelab liability")
        self._ok(f"Exported to <code>{html.escape(str(self.exported_path))}</code>")
        return self.exported_path
