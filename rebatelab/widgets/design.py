"""The pricing analyst's view: candidate designs of a program side by side with the current one."""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as w
import numpy as np
import pandas as pd

from rebatelab.errors import ParameterError, ProgramFileError, RebateLabError
from rebatelab.io.cache import DESIGNER_FORECAST_AT_START
from rebatelab.money import data_currency, format_money
from rebatelab.plotting.whatif import plot_design_figure, plot_design_tiers, unique_ticks
from rebatelab.programs.terms import ProgramSet, load_programs
from rebatelab.simulation.base import _data_for  # the data with this program's enrollments
from rebatelab.simulation.compare import (
    check_design,
    compare_designs,
    design_program,
    designs_yaml,
    parse_designs,
    projected_basis,
    propose_tier,
)
from rebatelab.simulation.whatif import whatif_base
from rebatelab.widgets._base import View

__all__ = ["ProgramDesigner", "auto_scenarios"]

MAX_TIERS = 4
#: Customers x scenarios of one what-if run the designer aims at (about 60 ms per run).
CELLS = 2_000_000
#: Above this many customers the forecast's figure is computed on request, not at start.
FORECAST_AT_START = DESIGNER_FORECAST_AT_START

_CSS = """
<style>
.rl-stale .rl-results, .rl-stale .rl-image {opacity: 0.3; filter: grayscale(1);}
.rl-outdated {color: #8a5300; font-weight: bold;}
.rl-findings {color: #8a5300;}
.rl-results td.num {white-space: nowrap;}
</style>
"""


def auto_scenarios(n_customers: int) -> int:
    """Scenarios per what-if run for a base of ``n_customers``: 500 on small bases, fewer on big.

    The mean payout of a large base varies little between scenarios (it is a sum over many
    customers), so fewer scenarios keep each run near 60 ms: ``CELLS / n_customers``, between
    40 and 500.

    Examples
    --------
    >>> auto_scenarios(400), auto_scenarios(20_000), auto_scenarios(50_000)
    (500, 100, 40)
    """
    return int(np.clip(CELLS // max(int(n_customers), 1), 40, 500))


def _table_html(header, rows) -> str:
    """An escaped table of text cells, every column but the first right-aligned."""
    esc = html.escape
    head = "".join(f"<th{' class=num' if i else ''}>{esc(str(h))}</th>"
                   for i, h in enumerate(header))  # fmt: skip
    body = "".join(
        "<tr>" + "".join(f"<td{' class=num' if i else ''}>{esc(str(c))}</td>"
                         for i, c in enumerate(r)) + "</tr>"
        for r in rows
    )  # fmt: skip
    return f"<div class='rl-table rl-results'><table><tr>{head}</tr>{body}</table></div>"


def _signed(text: str, value: float) -> str:
    return text if not np.isfinite(value) or value <= 0 or text.startswith("+") else f"+{text}"


class ProgramDesigner(View):
    """Candidate designs of one program compared with the current program on the same scenarios.

    Parameters
    ----------
    data : RebateData
        The history the customers' spend model is estimated on.
    programs : ProgramSet or path
        The current programs; variants are not offered as a starting point.
    program_id : str, optional
        The program to start from (default: the first program that is not a variant).
    as_of : date-like, optional
        End of the history the spend model is estimated on (default: the last transaction
        date); see :func:`rebatelab.simulation.whatif.whatif_base`.
    save_dir : str or Path
        Folder the designs file is saved to and loaded from by default.
    n_scenarios : int, optional
        Scenarios of each what-if run (default :func:`auto_scenarios` of the base's size).
    seed : int
        Seed of the scenarios (the same for every design: common random numbers).
    margin : float
        Starting gross margin on provoked revenue [fraction].
    forecast : bool or "auto"
        Compute the forecast's expected rebate of the current program at start (``"auto"``:
        on bases up to 5,000 customers; otherwise a button computes it).
    cache : rebatelab.io.cache.InputCache, optional
        Read the what-if base (the customers' spend model and each program's members,
        shares and baselines) and the forecast's figure from it, computed and stored on a
        miss; then ``data`` is None and ``programs`` and ``as_of`` are the cache's.
        :meth:`from_folder` builds one.

    Attributes
    ----------
    designs : dict of str -> dict
        The candidate designs (program file syntax: ``tiers``, ``method``, ``cap``) by name.
    selected : ipywidgets.Dropdown
        The design the editor shows.
    table : DataFrame or None
        The last comparison (:func:`rebatelab.simulation.compare.compare_designs`), one row
        per design with ``current`` first.
    stale : str or None
        Why the results shown are out of date (an invalid input), None when they are not.
    design : Program or None
        The selected design as a program (under the current program's id), when valid.
    """

    def __init__(
        self,
        data,
        programs,
        *,
        program_id=None,
        as_of=None,
        save_dir=".",
        n_scenarios: int | None = None,
        seed: int = 0,
        margin: float = 0.3,
        forecast="auto",
        cache=None,
    ):
        super().__init__()
        self.cache = cache
        if cache is not None:
            self.programs = load_programs(cache.programs())
            self.base = cache.designer_base()
            # the last day of the base's history window: the as-of day it was estimated at
            self.as_of = (cache.as_of if cache.as_of is not None
                          else pd.Timestamp(self.base.reference[1], unit="D"))  # fmt: skip
            self.data = self.base.data  # the lines are loaded only if a result needs them
            self.currency = cache.currency()
        else:
            self.data = data
            self.programs = load_programs(programs)
            day = as_of if as_of is not None else data.date_range[1]
            self.as_of = pd.Timestamp(day).normalize()
            self.base = whatif_base(data, as_of=self.as_of)
            self.currency = data_currency(data)
        self.n_scenarios = n_scenarios or auto_scenarios(self.base.n_customers)
        self.seed = seed
        self.save_dir = Path(save_dir)
        self.designs: dict[str, dict] = {}
        self.table: pd.DataFrame | None = None
        self.design = None
        self.stale: str | None = None
        self.saved_path: Path | None = None
        self.forecast_rebate: dict[str, float] = {}
        self._cache: dict = {}
        self._projected: dict = {}
        self._drawn = None
        self._loading = False
        self._forecast_mode = forecast

        bases = [p.id for p in self.programs if p.variant_of is None]
        k_max = max(MAX_TIERS, *(len(p.tiers) for p in self.programs))
        style = {"description_width": "initial"}
        narrow = w.Layout(width="140px")
        self.program = w.Dropdown(options=bases, value=program_id or bases[0],
                                  description="Current program", style=style)  # fmt: skip
        self.selected = w.Dropdown(options=[], description="Edit design", style=style)
        self.add = w.Button(description="Add design", icon="plus", layout=w.Layout(width="130px"))
        self.remove = w.Button(description="Remove", icon="trash", layout=w.Layout(width="100px"))
        self.n_tiers = w.Dropdown(options=list(range(1, k_max + 1)), description="Tiers")
        self.tier_from = [w.FloatText(layout=narrow) for _ in range(k_max)]
        self.tier_rate = [w.BoundedFloatText(min=0, max=100, step=0.1, layout=narrow)
                          for _ in range(k_max)]  # fmt: skip
        self.tier_amount = [w.FloatText(layout=narrow) for _ in range(k_max)]
        self.method = w.Dropdown(options=["retroactive", "incremental"], description="Method")
        self.cap = w.FloatText(description="Cap per customer (0 = none)", style=style)
        self.response = w.FloatSlider(
            value=0.5, min=0.0, max=1.0, step=0.05, description="Response strength",
            style=style, continuous_update=False,
            tooltip="probability that a customer close to a tier late in the period buys "
                    "ahead to reach it (0 = no response)",
        )  # fmt: skip
        self.margin = w.BoundedFloatText(value=margin, min=0.0, max=1.0, step=0.05, style=style,
                                         description="Gross margin [fraction, 0-1]")  # fmt: skip
        self.path = w.Text(description="Designs file", style=style,
                           layout=w.Layout(width="420px"))  # fmt: skip
        self.save = w.Button(description="Save designs", icon="save")
        self.load = w.Button(description="Load designs", icon="folder-open")
        self.forecast_button = w.Button(description="Compare with the forecast",
                                        layout=w.Layout(width="220px"))  # fmt: skip
        self.results = w.HTML()
        self.findings = w.HTML()
        self.relation = w.HTML()
        for i, (a, b, c) in enumerate(zip(self.tier_from, self.tier_rate, self.tier_amount,
                                          strict=True), start=1):  # fmt: skip
            a.add_class(f"rl-from-{i}")
            b.add_class(f"rl-rate-{i}")
            c.add_class(f"rl-amount-{i}")
        for name in (
            "program",
            "selected",
            "add",
            "remove",
            "n_tiers",
            "method",
            "cap",
            "margin",
            "save",
            "load",
            "path",
            "results",
            "findings",
            "relation",
        ):
            getattr(self, name).add_class(f"rl-{name.replace('_', '-')}")  # fmt: skip
        self.results.add_class("rl-table")

        self._from_header = w.HTML(layout=narrow)
        self._amount_header = w.HTML(layout=narrow)
        self._rows = [
            w.HBox([w.Label(f"Tier {i + 1}", layout=w.Layout(width="60px")), a, b, c])
            for i, (a, b, c) in enumerate(
                zip(self.tier_from, self.tier_rate, self.tier_amount, strict=True)
            )
        ]
        head = w.HBox([w.Label("", layout=w.Layout(width="60px")), self._from_header,
                       w.HTML("<b>rate [%]</b>", layout=narrow), self._amount_header])  # fmt: skip
        editor = w.VBox([w.HBox([self.selected, self.add, self.remove]), self.n_tiers, head,
                         *self._rows, self.method, self.cap])  # fmt: skip
        common = w.VBox([self.program, self.response, self.margin,
                         w.HBox([self.path]), w.HBox([self.save, self.load])])  # fmt: skip
        self._outputs = w.VBox([self.results, self.findings, self._image("comparison")])
        self.widget = w.VBox(
            [
                self._css(),
                w.HTML(_CSS),
                w.HTML("<h3>Program design: candidate designs against the current program</h3>"),
                w.HBox([common, editor]),
                self.status,
                self._outputs,
                self.relation,
                self.forecast_button,
            ]
        )
        self.widget.add_class("rl-designer")

        self.program.observe(lambda _c: self._guarded(self.load_program), names="value")
        self.selected.observe(lambda _c: self._guarded(self._show_selected), names="value")
        self.n_tiers.observe(lambda c: self._guarded(lambda: self._tiers_changed(c)),
                             names="value")  # fmt: skip
        self._watch(self.method, self.cap, *self.tier_from, *self.tier_rate, *self.tier_amount,
                    handler=self._edited)  # fmt: skip
        self._watch(self.response, self.margin)
        self.add.on_click(lambda _b: self._guarded(self.add_design))
        self.remove.on_click(lambda _b: self._guarded(self.remove_design))
        self.save.on_click(lambda _b: self._guarded(self.save_designs))
        self.load.on_click(lambda _b: self._guarded(self.load_designs))
        self.forecast_button.on_click(lambda _b: self._guarded(self.compare_with_forecast))
        self._guarded(self.load_program)

    @classmethod
    def from_folder(cls, folder, programs=None, as_of=None, *, cache_dir=None, check="content",
                    load_options=None, **kwargs) -> ProgramDesigner:  # fmt: skip
        """The designer of a data folder, opened from its cache (``DATA/.rebatelab-cache``).

        The what-if base and the forecast's figures stored by ``rebatelab precompute`` (or
        by an earlier opening) for the same files, program file and as-of day are read, so
        the lines are not loaded; anything else is computed and stored. The terms are the
        program file's (the designer compares designs with it, not with approved changes).
        Other keyword arguments are the view's.

        Parameters
        ----------
        folder : str or Path
            The data folder.
        programs : ProgramSet or path, optional
            Default ``programs.yaml`` in the folder.
        as_of : date-like, optional
            End of the history the spend model is estimated on (default: the last line's).
        cache_dir : str or Path, optional
            Where the cache lives (default ``folder / ".rebatelab-cache"``).
        check : {"content", "stat"}
            How input files are told apart (:func:`rebatelab.io.cache.input_fingerprint`).
        load_options : dict, optional
            Keyword arguments of :func:`rebatelab.load_data` (e.g. ``date_format``).
        """
        from rebatelab.io.cache import InputCache

        cache = InputCache(folder, programs, as_of=as_of, cache_dir=cache_dir, check=check,
                           load_options=load_options)  # fmt: skip
        return cls(None, None, cache=cache, **kwargs)

    # -- the designs ---------------------------------------------------------------------
    @property
    def current(self):
        """The current program selected in :attr:`program`."""
        return self.programs[self.program.value]

    def _current_terms(self) -> dict:
        p = self.current
        tiers = [t.model_dump(by_alias=True, exclude_none=True) for t in p.tiers]
        return {"tiers": tiers, "method": p.method, "cap": p.cap or 0.0}

    def load_program(self) -> None:
        """Start over from the selected program: one design, a copy of its terms."""
        p = self.current
        self._cache.clear()
        self.designs = {"design 1": self._current_terms()}
        self.path.value = str(self.save_dir / f"{p.id}-designs.yaml")
        unit = ("growth [fraction]" if p.is_growth else
                "units" if p.basis == "quantity" else self.currency)  # fmt: skip
        self._from_header.value = f"<b>from [{html.escape(unit)}]</b>"
        self._amount_header.value = f"<b>lump sum [{html.escape(self.currency)}]</b>"
        self.cap.description = f"Cap per customer [{self.currency}] (0 = none)"
        if self._forecast_mode is True or (
            self._forecast_mode == "auto" and self.base.n_customers <= FORECAST_AT_START
        ):
            self.compare_with_forecast(refresh=False)
        self._set_options("design 1")  # shows it, runs and draws

    def _set_options(self, value: str) -> None:
        self._loading = True
        try:
            self.selected.options = list(self.designs)
            self.selected.value = value
        finally:
            self._loading = False
        self._show_selected()

    def _show_selected(self) -> None:
        """Fill the editor with the selected design's terms."""
        if self._loading:
            return
        terms = self.designs[self.selected.value]
        tiers = terms["tiers"]
        self._loading = True
        try:
            self.n_tiers.value = len(tiers)
            for i in range(len(self.tier_from)):
                t = tiers[i] if i < len(tiers) else {}
                self.tier_from[i].value = float(t.get("from", 0.0))
                self.tier_rate[i].value = round(100 * float(t.get("rate", 0.0)), 6)
                self.tier_amount[i].value = float(t.get("amount") or 0.0)
            self.method.value = terms.get("method", "retroactive")
            self.cap.value = float(terms.get("cap") or 0.0)
        finally:
            self._loading = False
        for i, row in enumerate(self._rows):
            row.layout.display = "" if i < len(tiers) else "none"
        self.refresh()

    def _editor_terms(self) -> dict:
        tiers = []
        for i in range(self.n_tiers.value):
            t = {"from": self.tier_from[i].value, "rate": self.tier_rate[i].value / 100.0}
            if self.tier_amount[i].value:
                t["amount"] = self.tier_amount[i].value
            tiers.append(t)
        return {"tiers": tiers, "method": self.method.value, "cap": self.cap.value}

    def _edited(self) -> None:
        if self._loading:
            return
        self.designs[self.selected.value] = self._editor_terms()
        self.refresh()

    def projected(self) -> np.ndarray:
        """Expected end-of-period basis of each pool of the current program (cached)."""
        pid = self.current.id
        if pid not in self._projected:
            self._projected[pid] = projected_basis(self.base, self.current)
        return self._projected[pid]

    def _tiers_changed(self, change) -> None:
        """Fewer tiers drop the last ones; more propose thresholds above the last one."""
        if self._loading:
            return
        k = change["new"]
        terms = self._editor_terms()
        tiers = terms["tiers"][: min(k, change["old"])]
        while len(tiers) < k:
            tiers.append(propose_tier(tiers, self.projected(), growth=self.current.is_growth))
        self.designs[self.selected.value] = {**terms, "tiers": tiers}
        self._show_selected()

    def add_design(self) -> str:
        """A new design, a copy of the selected one; the editor shows it. Returns its name."""
        i = len(self.designs) + 1
        while f"design {i}" in self.designs:
            i += 1
        name = f"design {i}"
        src = self.designs[self.selected.value]
        self.designs[name] = {**src, "tiers": [dict(t) for t in src["tiers"]]}
        self._set_options(name)
        return name

    def remove_design(self) -> None:
        """Drop the selected design (the last one stays)."""
        if len(self.designs) == 1:
            raise ParameterError("the last design stays; change its terms instead")
        del self.designs[self.selected.value]
        self._set_options(next(iter(self.designs)))

    # -- compute and draw ----------------------------------------------------------------
    def problems(self) -> dict[str, list[str]]:
        """:func:`~rebatelab.simulation.compare.check_design` findings of every design."""
        return {n: check_design(t, current=self.current) for n, t in self.designs.items()}

    def compute(self) -> pd.DataFrame:
        """The comparison table of the designs as they are (only changed designs rerun)."""
        return compare_designs(
            self.base, self.current, self.designs, margin=self.margin.value,
            n_scenarios=self.n_scenarios, response_strength=self.response.value,
            seed=self.seed, cache=self._cache,
        )  # fmt: skip

    def refresh(self) -> None:
        """Validate the designs, rerun what changed, redraw; an invalid input marks stale."""
        if self._loading:
            return
        for i, row in enumerate(self._rows):
            row.layout.display = "" if i < self.n_tiers.value else "none"
        for name, terms in self.designs.items():
            errors = check_design(terms, current=self.current, errors_only=True)
            if errors:
                self._mark_stale(f"{name}: {'; '.join(errors)}")
                return
        try:
            self.design = design_program(self.current, self.designs[self.selected.value])
            table = self.compute()
        except RebateLabError as exc:
            self._mark_stale(str(exc))
            return
        self.table = table
        self.stale = None
        self._outputs.remove_class("rl-stale")
        self._draw()

    def _mark_stale(self, reason: str) -> None:
        self.stale = reason
        self._outputs.add_class("rl-stale")
        self._fail(f"out of date: {reason}")
        self.status.value = (
            f"<span class='rl-outdated rl-error'>out of date: {html.escape(reason)}</span> "
            "(the results below are those of the last valid designs; fix the input to update)"
        )

    def _money(self, v, *, signed=False) -> str:
        text = format_money(v, currency=self.currency, decimals=0)
        return _signed(text, v) if signed else text

    def _draw(self) -> None:
        t = self.table
        cur = self.currency
        names = list(t.index)
        k = sum(c.startswith("customers_tier_") for c in t.columns) - 1
        diff = [n != "current" for n in names]

        def row(label, values):
            return [label, *values]

        def vs(col, fmt):
            return [fmt(t.at[n, f"{col}_vs_current"]) if d else "\u2013"
                    for n, d in zip(names, diff, strict=True)]  # fmt: skip

        def pct(v, signed=False):
            if not np.isfinite(v):
                return "\u2013"
            text = f"{100 * v:.2f}%"
            return f"+{text}" if signed and v > 0 else text

        def count(v, signed=False):
            if not np.isfinite(v):
                return "\u2013"
            text = f"{v:,.1f}"
            return f"+{text}" if signed and v > 0 else text

        def ratio(v, signed=False):
            if not np.isfinite(v):
                return "\u2013"
            text = f"{format_money(v, currency=cur, decimals=2)}"
            return _signed(text, v) if signed else text

        rows = [
            row(f"Mean payout [{cur}]", [self._money(t.at[n, "payout"]) for n in names]),
            row("  difference to current", vs("payout", lambda v: self._money(v, signed=True))),
            row("Cost [% of eligible sales]", [pct(t.at[n, "cost_share"]) for n in names]),
            row("  difference to current [points]",
                vs("cost_share", lambda v: pct(v, signed=True))),
            *[row(f"Customers in tier {j}", [count(t.at[n, f"customers_tier_{j}"])
                                             for n in names]) for j in range(1, k + 1)],
            row("Customers in a tier, difference to current",
                vs("customers_in_tiers", lambda v: count(v, signed=True))),
            row(f"Provoked revenue [{cur}]",
                [self._money(t.at[n, "provoked_revenue"]) for n in names]),
            row("  difference to current",
                vs("provoked_revenue", lambda v: self._money(v, signed=True))),
            row(f"Payout per {format_money(1, currency=cur, decimals=0)} of provoked revenue",
                [ratio(t.at[n, "cost_per_provoked"]) for n in names]),
            row(f"Profit effect vs current at {self.margin.value:.0%} margin [{cur}]",
                vs("profit", lambda v: self._money(v, signed=True))),
        ]  # fmt: skip
        self.results.value = _table_html(["figure (mean over scenarios)", *names], rows)

        notes = [f"<li><b>{html.escape(n)}</b>: {html.escape(t.at[n, 'findings'])}</li>"
                 for n in names if t.at[n, "findings"]]  # fmt: skip
        self.findings.value = (
            "<div class='rl-findings'><b>Check these designs</b><ul>" + "".join(notes)
            + "</ul></div>" if notes else ""
        )  # fmt: skip

        self._draw_chart(t)
        self._update_relation()
        sel = self.selected.value
        self._ok(
            f"<b>{html.escape(sel)}</b>: mean payout {self._money(t.at[sel, 'payout'])} "
            f"({pct(t.at[sel, 'cost_share'])} of eligible sales), "
            f"{self._money(t.at[sel, 'payout_vs_current'], signed=True)} against the current "
            f"{html.escape(self.current.id)} ({self._money(t.at['current', 'payout'])}); "
            f"{self.n_scenarios} scenarios"
        )

    def _draw_chart(self, t: pd.DataFrame) -> None:
        """Redraw the comparison figure when what it shows changed (not for the margin)."""
        cols = ["payout", "cost_share", "provoked_revenue",
                *[c for c in t.columns if c.startswith("customers_tier_")]]  # fmt: skip
        key = (tuple(t.index), tuple(cols), t[cols].to_numpy(dtype=float).tobytes())
        if key == self._drawn:
            return
        if self._drawn is not None and self._drawn[0] == key[0]:
            # same designs: move the bars, keep the artists; redraw the tier panel only when
            # the number of tiers changed
            self._update_chart(t, tiers_changed=self._drawn[1] != key[1])
        else:
            self._build_chart(t)
        self._show("comparison", self.figures["comparison"])
        self._drawn = key

    def _money_tick(self, v, d):
        return format_money(v, currency=self.currency, decimals=d)

    @staticmethod
    def _pct_tick(v, d):
        return f"{100 * v:.{d}f}%"

    def _update_chart(self, t: pd.DataFrame, *, tiers_changed: bool = False) -> None:
        fig = self.figures["comparison"]
        axes = fig.axes
        for ax, col, fmt in ((axes[0], "payout", self._money_tick),
                             (axes[1], "cost_share", self._pct_tick),
                             (axes[3], "provoked_revenue", self._money_tick)):  # fmt: skip
            v = np.nan_to_num(t[col].to_numpy(dtype=float), posinf=0.0, neginf=0.0)
            for bar, h in zip(ax.patches, v, strict=True):
                bar.set_height(h)
            ax.lines[0].set_ydata([v[0], v[0]])
            ax.set_ylim(min(0.0, v.min() * 1.1), (np.abs(v).max() * 1.1) or 1.0)
            unique_ticks(ax.yaxis, fmt)
        if tiers_changed:
            axes[2].clear()
            plot_design_tiers(t, ax=axes[2])
            axes[2].set_title("Customers per tier")
            if len(t) > 4:
                axes[2].tick_params(axis="x", labelrotation=20)
            return
        tiers = [c for c in t.columns if c.startswith("customers_tier_")][1:]
        bottom = np.zeros(len(t))
        bars = iter(axes[2].patches)
        for col in tiers:
            h = np.nan_to_num(t[col].to_numpy(dtype=float))
            for j in range(len(t)):
                bar = next(bars)
                bar.set_y(bottom[j])
                bar.set_height(h[j])
            bottom += h
        axes[2].set_ylim(0, (bottom.max() * 1.05) or 1.0)

    def _build_chart(self, t: pd.DataFrame) -> None:
        cur = self.currency
        fig, axes = self._figure()
        money_tick = self._money_tick

        plot_design_figure(t, column="payout", ax=axes[0], fmt=money_tick,
                           label=f"mean payout [{cur}]")  # fmt: skip
        plot_design_figure(t, column="cost_share", ax=axes[1], fmt=self._pct_tick,
                           label="payout [% of eligible sales]")  # fmt: skip
        plot_design_tiers(t, ax=axes[2])
        plot_design_figure(t, column="provoked_revenue", ax=axes[3], fmt=money_tick,
                           label=f"provoked revenue [{cur}]")  # fmt: skip
        titles = ("Payout", "Cost as % of eligible sales", "Customers per tier",
                  "Revenue provoked by the thresholds")  # fmt: skip
        for ax, title in zip(axes, titles, strict=True):
            ax.set_title(title)
            if len(t) > 4:
                ax.tick_params(axis="x", labelrotation=20)
        self.figures["comparison"] = fig

    def _figure(self):
        """The comparison figure, built once (fixed margins: no layout pass) and cleared."""
        fig = self.figures.get("comparison")
        if fig is None:
            from matplotlib.figure import Figure

            fig = Figure(figsize=(10.5, 6.4))
            fig.subplots(2, 2)
            # room for the money tick labels on the left and the tier legend under its panel
            fig.subplots_adjust(left=0.09, right=0.98, bottom=0.12, top=0.95,
                                wspace=0.25, hspace=0.48)  # fmt: skip
        for ax in fig.axes:
            ax.clear()
        return fig, np.array(fig.axes)

    # -- the forecast's figure for the same program ----------------------------------------
    def compare_with_forecast(self, *, refresh: bool = True) -> float:
        """The forecast's expected rebate of the current program as of :attr:`as_of`.

        Computed once per program (the forecast of every member to the period end) and
        shown next to the designer's figure with why they differ (read from the cache when
        the view has one).
        """
        pid = self.current.id
        if pid not in self.forecast_rebate and self.cache is not None:
            self.forecast_rebate[pid] = self.cache.designer_forecast(pid)
        elif pid not in self.forecast_rebate:
            from rebatelab.forecasting.projection import forecast

            one = ProgramSet.from_programs([self.current], source="designer")
            fc = forecast(_data_for(self.data, one), one, self.as_of)
            self.forecast_rebate[pid] = float(fc["expected_rebate"].sum())
        if refresh and self.table is not None:
            self._update_relation()
        return self.forecast_rebate[pid]

    def _update_relation(self) -> None:
        t, pid = self.table, self.current.id
        fc = self.forecast_rebate.get(pid)
        self.forecast_button.layout.display = "none" if fc is not None else ""
        figures = (
            f"For the current {html.escape(pid)}, the designer's mean payout is "
            f"<b>{self._money(t.at['current', 'payout'])}</b> "
            f"({self._money(t.at['current', 'payout_without_response'])} had no customer "
            "bought ahead)"
        )
        if fc is not None:
            figures += (
                f"; the forecast's expected rebate as of {self.as_of.date()} is "
                f"<b>{self._money(fc)}</b>"
            )
        self.relation.value = (
            "<p style='max-width:60em'><b>How these figures relate to the forecast.</b> "
            f"{figures}. They differ because the designer simulates a whole period of orders "
            "from each customer's estimated order rate and value and lets customers buy ahead "
            "to reach a tier (the response to a design), while the forecast starts from what "
            "each customer has bought so far this period and projects its current behaviour "
            "to the period end. Use the designer to compare designs with each other, the "
            "forecast for what this period will cost.</p>"
        )

    # -- designs file --------------------------------------------------------------------
    def save_designs(self) -> Path:
        """Write every design to :attr:`path` (the program file's syntax); return the path."""
        if self.stale is not None:
            raise ParameterError(f"fix the designs before saving ({self.stale})")
        path = Path(self.path.value.strip())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(designs_yaml(self.current, self.designs))
        self.saved_path = path
        self._ok(f"Saved {len(self.designs)} design(s) to <code>{html.escape(str(path))}</code>")
        return path

    def load_designs(self) -> None:
        """Replace the designs with those of :attr:`path` (saved here or written by hand)."""
        import yaml

        path = Path(self.path.value.strip())
        if not path.is_file():
            raise ProgramFileError(f"designs file not found: {path}")
        try:
            parsed = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ProgramFileError(f"{path}: not valid YAML: {exc}") from None
        loaded = parse_designs(parsed, source=str(path))
        keep = ("tiers", "method", "cap")
        self.designs = {
            n: {"method": self.current.method, "cap": 0.0,
                **{k: v for k, v in d.items() if k in keep}}
            for n, d in loaded.items()
        }  # fmt: skip
        for d in self.designs.values():
            d["tiers"] = [dict(t) for t in d["tiers"]]
            d["cap"] = d.get("cap") or 0.0
        self._set_options(next(iter(self.designs)))
        if self.stale is None:
            self._ok(
                f"Loaded {len(self.designs)} design(s) from <code>{html.escape(str(path))}</code>"
            )
