"""The pricing analyst's view: edit a program's tiers and compare it with the current one."""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as w
import numpy as np
import pandas as pd

from rebatelab.plotting.whatif import plot_tier_participation, plot_whatif
from rebatelab.programs.terms import ProgramSet, load_programs
from rebatelab.simulation.whatif import WhatIfResult, simulate_program, whatif_base
from rebatelab.widgets._base import View, currency_of, html_table, money, new_figure

__all__ = ["ProgramDesigner"]

MAX_TIERS = 4
THOUSANDS = "{x:,.0f}"
PERCENT = "{x:.1%}"


class ProgramDesigner(View):
    """Tier editor with a what-if comparison of the design against the current program.

    Parameters
    ----------
    data : RebateData
        The history to run the what-if over.
    programs : ProgramSet or path
        The current programs; variants are not offered as a starting point.
    program_id : str, optional
        The program to start from (default: the first program that is not a variant).
    as_of : date-like, optional
        End of the history the customers' spend model is estimated on (default: the last
        transaction date); see :func:`rebatelab.simulation.whatif.whatif_base`.
    save_dir : str or Path
        Folder the *Save* button writes ``<design id>.yaml`` to.
    n_scenarios : int
        Scenarios of each what-if run.
    seed : int
        Seed of the scenarios (the same for both runs: common random numbers).

    Attributes
    ----------
    program : ipywidgets.Dropdown
        The current program the design starts from and is compared with.
    n_tiers : ipywidgets.Dropdown
        Number of tiers (1 to 4, or more if a program has more).
    tier_from, tier_rate, tier_amount : list of ipywidgets.FloatText
        Per tier: the lower bound [basis unit, or growth fraction], the rate [%] and a lump sum
        [currency].
    method : ipywidgets.Dropdown
        ``retroactive`` or ``incremental``.
    cap : ipywidgets.FloatText
        Cap per customer or pool and period [currency]; 0 means no cap.
    response : ipywidgets.FloatSlider
        Response strength of customers to the thresholds [probability, 0 = none].
    design_id : ipywidgets.Text
        Id the design is saved under.
    save : ipywidgets.Button
        Writes the design as a program file in ``save_dir``.
    runs : dict of str -> WhatIfResult
        The last what-if runs, ``"current"`` and ``"design"``
        (:func:`rebatelab.simulation.whatif.simulate_program`).
    result : DataFrame
        Their means over scenarios (:meth:`WhatIfResult.summary`): one row per metric and per
        tier count (``customers_tier_k``), one column per run.
    design : Program or None
        The last valid design (under the current program's id).
    """

    def __init__(
        self,
        data,
        programs,
        *,
        program_id=None,
        as_of=None,
        save_dir=".",
        n_scenarios: int = 500,
        seed: int = 0,
    ):
        super().__init__()
        self.data = data
        self.programs = load_programs(programs)
        self.as_of = pd.Timestamp(as_of if as_of is not None else data.date_range[1]).normalize()
        self.base = whatif_base(data, as_of=self.as_of)
        self.n_scenarios = n_scenarios
        self.seed = seed
        self.runs: dict = {}
        self.save_dir = Path(save_dir)
        self.currency = currency_of(data)
        self.result: pd.DataFrame | None = None
        self.design = None
        self.saved_path: Path | None = None
        self._loading = False

        bases = [p.id for p in self.programs if p.variant_of is None]
        k_max = max(MAX_TIERS, *(len(p.tiers) for p in self.programs))
        self.program = w.Dropdown(
            options=bases, value=program_id or bases[0], description="Program"
        )
        self.n_tiers = w.Dropdown(options=list(range(1, k_max + 1)), description="Tiers")
        style = {"description_width": "initial"}
        narrow = w.Layout(width="150px")
        self.tier_from = [w.FloatText(layout=narrow) for _ in range(k_max)]
        self.tier_rate = [w.BoundedFloatText(min=0, max=100, step=0.1, layout=narrow)
                          for _ in range(k_max)]  # fmt: skip
        self.tier_amount = [w.FloatText(layout=narrow) for _ in range(k_max)]
        self.method = w.Dropdown(options=["retroactive", "incremental"], description="Method")
        self.cap = w.FloatText(description=f"Cap [{self.currency or 'currency'}] (0 = none)",
                               style=style)  # fmt: skip
        self.response = w.FloatSlider(
            value=0.5, min=0.0, max=1.0, step=0.05, description="Response strength",
            style=style, continuous_update=False,
            tooltip="probability that a customer close to a tier late in the period buys "
                    "ahead to reach it (0 = no response)",
        )  # fmt: skip
        self.design_id = w.Text(description="Save as id", style=style)
        self.save = w.Button(
            description="Save design as YAML", icon="save", layout=w.Layout(width="190px")
        )
        self.summary = w.HTML()
        for i, (a, b, c) in enumerate(zip(self.tier_from, self.tier_rate, self.tier_amount,
                                          strict=True), start=1):  # fmt: skip
            a.add_class(f"rl-from-{i}")
            b.add_class(f"rl-rate-{i}")
            c.add_class(f"rl-amount-{i}")
        self.program.add_class("rl-program")
        self.n_tiers.add_class("rl-n-tiers")
        self.method.add_class("rl-method")
        self.cap.add_class("rl-cap")
        self.save.add_class("rl-save")
        self.summary.add_class("rl-summary")

        self._from_header = w.HTML(layout=narrow)
        self._rows = [
            w.HBox([w.Label(f"Tier {i + 1}", layout=w.Layout(width="60px")), a, b, c])
            for i, (a, b, c) in enumerate(
                zip(self.tier_from, self.tier_rate, self.tier_amount, strict=True)
            )
        ]
        head = w.HBox([w.Label("", layout=w.Layout(width="60px")), self._from_header,
                       w.HTML("<b>rate [%]</b>", layout=narrow),
                       w.HTML(f"<b>lump sum [{self.currency or 'currency'}]</b>",
                              layout=narrow)])  # fmt: skip
        editor = w.VBox([head, *self._rows])
        terms = w.VBox([self.program, self.n_tiers, self.method, self.cap, self.response,
                        w.HBox([self.design_id, self.save])])  # fmt: skip
        self.widget = w.VBox(
            [
                self._css(),
                w.HTML("<h3>Program design: what-if against the current program</h3>"),
                w.HBox([terms, editor]),
                self.status,
                self.summary,
                self._image("comparison"),
            ]
        )
        self.widget.add_class("rl-designer")

        self.program.observe(lambda _c: self._guarded(self.load_program), names="value")
        self._watch(self.n_tiers, self.method, self.cap, self.response,
                    *self.tier_from, *self.tier_rate, *self.tier_amount)  # fmt: skip
        self.save.on_click(lambda _b: self._guarded(self.save_design))
        self._guarded(self.load_program)

    # -- controls <-> program --------------------------------------------------------------
    @property
    def current(self):
        """The current program selected in :attr:`program`."""
        return self.programs[self.program.value]

    def load_program(self) -> None:
        """Fill the editor with the terms of the selected program, then refresh."""
        p = self.current
        self._loading = True
        try:
            self.n_tiers.value = len(p.tiers)
            for i in range(len(self.tier_from)):
                t = p.tiers[i] if i < len(p.tiers) else None
                self.tier_from[i].value = t.from_ if t else 0.0
                self.tier_rate[i].value = round(100 * t.rate, 6) if t else 0.0
                self.tier_amount[i].value = (t.amount or 0.0) if t else 0.0
            self.method.value = p.method
            self.cap.value = p.cap or 0.0
            self.design_id.value = f"{p.id}-DESIGN"
            unit = ("growth [fraction]" if p.is_growth else
                    "units" if p.basis == "quantity" else self.currency or "currency")  # fmt: skip
            self._from_header.value = f"<b>from [{html.escape(unit)}]</b>"
        finally:
            self._loading = False
        self.refresh()

    def design_terms(self) -> dict:
        """The design as a program-file mapping (id, period and filters from the current)."""
        base = self.current.model_dump(mode="json", by_alias=True, exclude_none=True)
        base.pop("variant_of", None)
        base.pop("customers_only", None)
        k = self.n_tiers.value
        tiers = []
        for i in range(k):
            tier = {"from": self.tier_from[i].value, "rate": self.tier_rate[i].value / 100.0}
            if self.tier_amount[i].value:
                tier["amount"] = self.tier_amount[i].value
            tiers.append(tier)
        base.update(
            id=self.design_id.value.strip() or f"{self.current.id}-DESIGN",
            name=f"Design based on {self.current.id}",
            tiers=tiers,
            method=self.method.value,
        )
        base.pop("cap", None)
        if self.cap.value > 0:
            base["cap"] = self.cap.value
        return base

    def candidates(self) -> tuple[ProgramSet, ProgramSet]:
        """The program set as it is, and with the current program replaced by the design.

        The design keeps the current program's id inside the second set so that its
        enrollments (and variants) apply to it.
        """
        terms = {**self.design_terms(), "id": self.current.id}
        terms.pop("guardrails", None)  # they bound negotiated variants, not a design
        raw = [terms if p.id == self.current.id else p for p in self.programs]
        return self.programs, ProgramSet.from_programs(raw, source="program designer")

    # -- compute and draw ------------------------------------------------------------------
    def compare(self, current: ProgramSet, design: ProgramSet) -> dict:
        """What-if runs of the current program and of the design on the same scenarios.

        Both runs use the same seed, so they see the same orders (common random numbers).
        Returns ``{"current": WhatIfResult, "design": WhatIfResult}``.
        """
        pid = self.current.id
        return {
            label: simulate_program(
                self.base,
                [progs[pid]],
                n_scenarios=self.n_scenarios,
                response_strength=self.response.value,
                seed=self.seed,
            )
            for label, progs in (("current", current), ("design", design))
        }

    def refresh(self) -> None:
        """Validate the design, run the what-if, redraw the comparison."""
        if self._loading:
            return
        for i, row in enumerate(self._rows):
            row.layout.display = "" if i < self.n_tiers.value else "none"
        current, design = self.candidates()
        pid = self.current.id
        self.design = design[pid]
        self.runs = self.compare(current, design)
        self.result = pd.DataFrame(
            {label: r.summary().xs("mean", level=1, axis=1).loc[pid]
             for label, r in self.runs.items()}
        )  # fmt: skip
        self._draw()

    def _draw(self) -> None:
        pid, cur = self.current.id, self.currency or "currency"
        runs, r = self.runs, self.result
        shown = {
            "mean payout": ("total_payout", money),
            "cost [% of eligible sales]": ("payout_share", lambda v: f"{100 * v:.2f}%"),
            "eligible sales": ("eligible_sales", money),
            "incremental revenue": ("incremental_revenue", money),
            "payout per unit of incremental revenue": (
                "cost_per_incremental",
                lambda v: "\u2013" if not np.isfinite(v) else f"{v:,.2f}",
            ),
        }
        table = pd.DataFrame(
            {"figure (mean over scenarios)": list(shown),
             **{label: [fmt(r.at[m, label]) for m, fmt in shown.values()] for label in runs}}
        )  # fmt: skip
        self.summary.value = html_table(table)

        both = self.side_by_side()
        fig, axes = new_figure(ncols=2, nrows=2, width=10.0, height=6.4)
        panels = (
            ("total_payout", "Payout distribution", f"total payout [{cur}]"),
            ("payout_share", "Cost as % of eligible sales", None),
            (None, "Customers per tier (mean over scenarios)", None),
            ("incremental_revenue", "Revenue provoked by the thresholds",
             f"incremental revenue [{cur}]"),
        )  # fmt: skip
        for ax, (metric, title, label) in zip(axes, panels, strict=True):
            if metric is None:
                plot_tier_participation(both, ax=ax)
            else:
                plot_whatif(both, metric=metric, ax=ax)
            ax.set_title(title)
            if label:
                ax.set_ylabel(label)
                ax.yaxis.set_major_formatter(THOUSANDS)
        axes[1].yaxis.set_major_formatter(PERCENT)
        axes[1].set_ylabel("payout [% of eligible sales]")
        self._show("comparison", fig)
        self._ok(
            f"<b>Design</b>: mean payout {money(r.at['total_payout', 'design'], self.currency)}"
            f" ({100 * r.at['payout_share', 'design']:.2f}% of eligible sales); current "
            f"{html.escape(pid)}: {money(r.at['total_payout', 'current'], self.currency)}"
            f" ({100 * r.at['payout_share', 'current']:.2f}%)"
        )

    def side_by_side(self) -> WhatIfResult:
        """The two runs as one result with candidates ``current`` and ``design``."""
        pid, runs = self.current.id, self.runs
        first = runs["current"]
        return WhatIfResult(
            candidates=list(runs),
            metrics={label: r.metrics[pid] for label, r in runs.items()},
            tier_counts={label: r.tier_counts[pid] for label, r in runs.items()},
            n_scenarios=first.n_scenarios,
            response_strength=first.response_strength,
        )

    def save_design(self) -> Path:
        """Write the design as a program file ``<save_dir>/<design id>.yaml``; return the path."""
        design = ProgramSet.from_programs([self.design_terms()], source="program designer")
        self.save_dir.mkdir(parents=True, exist_ok=True)
        path = self.save_dir / f"{design.ids[0]}.yaml"
        path.write_text(design.to_yaml())
        self.saved_path = path
        self._ok(f"Saved the design to <code>{html.escape(str(path))}</code>")
        return path
