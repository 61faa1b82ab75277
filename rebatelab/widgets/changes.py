"""The rep's view and the manager's queue of governed changes.

- :class:`ProposePanel`: for the customer in front of a rep, the programs they are enrolled
  in, eligible for or have pending (:func:`rebatelab.workspace.changes.discover`), a button
  to propose enrolling into an eligible program, a small variant form whose guardrail
  result is shown as it is typed, and the status of the customer's requests.
- :class:`ManagerQueue`: the pending requests with their guardrail result and the forecast
  effect of approving (:func:`rebatelab.workspace.effects.approval_effect`), approve and
  reject buttons with a reason.

Both record in the workspace file given; the user names are what the caller says (an audit
trail, not access control).
"""

from __future__ import annotations

import html

import ipywidgets as w
import pandas as pd

from rebatelab.errors import RebateLabError
from rebatelab.programs.changes import Proposal
from rebatelab.programs.terms import load_programs
from rebatelab.widgets._base import _CSS, currency_of, html_table, money
from rebatelab.workspace.changes import (
    approve,
    check,
    current_user,
    discover,
    history,
    propose,
    reject,
    requests,
)
from rebatelab.workspace.effects import approval_effect

__all__ = ["ProposePanel", "ManagerQueue", "parse_tiers"]


def parse_tiers(text: str) -> list[dict]:
    """Tiers typed as ``from: rate`` lines (``1400: 2%`` or ``1400: 0.02``).

    Parameters
    ----------
    text : str
        One tier a line: the threshold [basis unit], a colon, the rate (a fraction, or a
        percentage with ``%``).

    Returns
    -------
    list of dict
        ``[{"from": 1400.0, "rate": 0.02}, ...]`` in the program file's syntax.

    Raises
    ------
    ValueError
        A line that is not ``number: rate`` (the message quotes it).

    Examples
    --------
    >>> parse_tiers("1400: 2%; 3600: 0.031".replace("; ", chr(10)))
    [{'from': 1400.0, 'rate': 0.02}, {'from': 3600.0, 'rate': 0.031}]
    """
    tiers = []
    for line in text.splitlines():  # a handful of typed tiers
        line = line.strip()
        if not line:
            continue
        left, sep, right = line.partition(":")
        try:
            if not sep:
                raise ValueError
            right = right.strip()
            rate = float(right[:-1]) / 100 if right.endswith("%") else float(right)
            tiers.append({"from": float(left.replace(",", "")), "rate": round(rate, 10)})
        except ValueError:
            raise ValueError(f"tier {line!r}: write 'threshold: rate', e.g. '1400: 2%'") from None
    return tiers


def _say(message: str, *, ok: bool) -> str:
    cls = "rl-ok" if ok else "rl-error"
    return f"<span class='{cls}'>{html.escape(message)}</span>"


class _Changes:
    """What both views share: the data, the programs, the workspace, the user."""

    def __init__(self, *, workspace, data, programs, as_of, user):
        self.workspace = workspace
        self.data = data
        self.programs = load_programs(programs)
        self.as_of = pd.Timestamp(as_of).normalize()
        self.currency = currency_of(data)
        self.user = w.Text(value=current_user(user), description="User", continuous_update=False)
        self.user.add_class("rl-user")
        self.message = w.HTML(value="", layout=w.Layout(min_height="1.5em"))
        self.message.add_class("rl-message")

    def _money(self, value) -> str:
        return money(value, self.currency)


class ProposePanel(_Changes):
    """The rep's view of one customer: discover, propose an enrollment or a variant.

    Parameters
    ----------
    workspace : path
        The workspace file the requests are recorded in.
    data : RebateData
    programs : ProgramSet or path
        The program file's programs.
    as_of : date-like
        The as-of day: programs whose period ended before it are not offered.
    user : str, optional
        Who proposes (default ``$REBATELAB_USER`` / ``$USER``); editable in ``.user``.

    Attributes
    ----------
    widget : ipywidgets.VBox
        The whole panel.
    table : ipywidgets.HTML
        The :func:`discover` table of the customer shown.
    program : ipywidgets.Dropdown
        The eligible program to propose enrolling into.
    effective, reason : ipywidgets.Text
        Effective day (``YYYY-MM-DD``; empty: the program's start) and why.
    propose_button : ipywidgets.Button
    tiers : ipywidgets.Textarea
        The variant's tiers, ``from: rate`` a line (:func:`parse_tiers`).
    customers_only : ipywidgets.Text
        The variant's customers, comma-separated (default: the customer shown).
    check_result : ipywidgets.HTML
        The variant's guardrail result, updated as the form changes.
    variant_button : ipywidgets.Button
    requests_table : ipywidgets.HTML
        The status of this customer's requests.
    found : DataFrame
        The last :func:`discover` table.
    customer_id : str or None
    message : ipywidgets.HTML
        The status line: the request last proposed here and its status as of the last
        :meth:`show` / :meth:`refresh` (a manager's decision since is shown then).
    reported : int or None
        That request's id.
    """

    def __init__(self, *, workspace, data, programs, as_of, user=None):
        super().__init__(workspace=workspace, data=data, programs=programs, as_of=as_of, user=user)
        self.customer_id: str | None = None
        self.found = pd.DataFrame()
        self.reported: int | None = None  # the request the status line speaks of
        self.title = w.HTML()
        self.table = w.HTML()
        self.table.add_class("rl-discover")
        self.program = w.Dropdown(description="Program", options=[])
        self.program.add_class("rl-program")
        self.effective = w.Text(description="Effective", placeholder="YYYY-MM-DD (start)")
        self.effective.add_class("rl-effective")
        self.reason = w.Text(description="Reason", placeholder="why (recorded)")
        self.reason.add_class("rl-reason")
        self.propose_button = w.Button(description="Propose enrollment", button_style="primary")
        self.propose_button.add_class("rl-propose")
        self.propose_button.on_click(lambda _b: self.propose_enrollment())
        self.tiers = w.Textarea(
            description="Tiers", placeholder="1400: 2%\n3600: 3%", layout=w.Layout(height="5em")
        )
        self.tiers.add_class("rl-tiers")
        self.customers_only = w.Text(description="Customers")
        self.check_result = w.HTML()
        self.check_result.add_class("rl-check")
        self.variant_button = w.Button(description="Propose variant")
        self.variant_button.add_class("rl-propose-variant")
        self.variant_button.on_click(lambda _b: self.propose_variant())
        for c in (self.tiers, self.customers_only, self.program):
            c.observe(lambda _c: self.check_variant(), names="value")
        self.requests_table = w.HTML()
        self.requests_table.add_class("rl-requests")
        self.widget = w.VBox(
            [
                w.HTML(_CSS),
                self.title,
                self.table,
                w.HTML("<b>Propose</b>"),
                w.HBox([self.program, self.effective]),
                w.HBox([self.reason, self.user]),
                self.propose_button,
                w.HTML("<b>Negotiated variant</b> of the program chosen above"),
                w.HBox([self.tiers, self.customers_only]),
                self.check_result,
                self.variant_button,
                self.message,
                w.HTML("<b>This customer's requests</b>"),
                self.requests_table,
            ]
        )
        self.widget.add_class("rl-propose-panel")

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def show(self, customer_id: str, program_id: str | None = None) -> None:
        """Show ``customer_id``: what they are open to, and their requests.

        Parameters
        ----------
        customer_id : str
        program_id : str, optional
            The program to preselect (e.g. the row a rep drilled into).
        """
        if self.customer_id is not None and str(customer_id) != self.customer_id:
            self.reported = None  # a line about another customer's request would mislead
            self.message.value = ""
        self.customer_id = str(customer_id)
        self.title.value = f"<h4>Customer {html.escape(self.customer_id)}</h4>"
        self.customers_only.value = self.customer_id
        try:
            self.found = discover(
                self.data, self.programs, self.customer_id, self.as_of, self.workspace
            )
        except RebateLabError as exc:
            self.found = pd.DataFrame()
            self.table.value = _say(str(exc), ok=False)
        else:
            shown = self.found[
                ["program_id", "name", "status", "request_id", "start", "end", "expected_rebate"]
            ]
            self.table.value = html_table(
                shown,
                formats={"expected_rebate": self._money},
                empty="No open program: every program's period has ended or filters it out.",
            )
        ids = [str(p) for p in self.found.get("program_id", [])]
        eligible = [
            str(p)
            for p, s in zip(ids, self.found.get("status", []), strict=True)
            if s == "eligible"
        ]
        options = eligible + [p for p in ids if p not in eligible]
        self.program.options = options
        if program_id is not None and str(program_id) in options:
            self.program.value = str(program_id)
        elif options:
            self.program.value = options[0]
        self.propose_button.disabled = not eligible
        self._show_requests()
        self._report()
        self.check_variant()

    def refresh(self) -> None:
        """Re-read the workspace for the customer shown (e.g. after a manager's decision)."""
        if self.customer_id is not None:
            self.show(self.customer_id, self.program.value or None)

    def _report(self) -> None:
        """The status line of the request last recorded here, as the workspace has it now.

        Read again on every :meth:`show`: a request approved or rejected since it was
        proposed is said to be so (with who decided and why), not still pending.
        """
        if self.reported is None:
            return
        req = next((r for r in requests(self.workspace) if r.request_id == self.reported), None)
        if req is None:
            return
        text = (f"Request {req.request_id} ({req.proposal.kind} of {req.proposal.program_id}) "
                f"is {req.status}")  # fmt: skip
        if req.decided_by:
            text += f" by {req.decided_by}"
            if req.decision_reason:
                text += f" ({req.decision_reason})"
        self.message.value = _say(text + ".", ok=req.status in ("pending", "approved"))

    def _show_requests(self) -> None:
        if self.customer_id is None:
            return
        h = history(self.workspace, customer=self.customer_id)
        last = h.drop_duplicates("request_id", keep="last")
        cols = ["request_id", "kind", "program_id", "effective", "status", "user", "reason"]
        self.requests_table.value = html_table(last[cols], empty="No request yet.")

    def _variant(self) -> Proposal:
        custs = [c.strip() for c in self.customers_only.value.split(",") if c.strip()]
        return Proposal.variant(
            self.program.value or "",
            custs,
            terms={"tiers": parse_tiers(self.tiers.value)},
            effective=self.effective.value.strip() or None,
            reason=self.reason.value,
        )

    def check_variant(self) -> str:
        """Show (and return) the variant form's guardrail result: ``ok`` or the rule broken."""
        if not self.tiers.value.strip() or not self.program.value:
            self.check_result.value = "Type tiers to check a variant against the guardrails."
            return ""
        try:
            result = check(self.data, self.programs, self._variant(), workspace=self.workspace)
        except (RebateLabError, ValueError) as exc:
            result = str(exc)
        good = result == "ok"
        self.check_result.value = _say(
            "Within the guardrails." if good else f"Refused: {result}", ok=good
        )
        return result

    def _record(self, proposal: Proposal) -> None:
        try:
            req = propose(
                self.data,
                self.programs,
                proposal,
                user=self.user.value,
                workspace=self.workspace,
            )
        except (RebateLabError, ValueError) as exc:
            self.reported = None
            self.message.value = _say(f"Refused: {exc}", ok=False)
        else:
            self.reported = req.request_id
            self.message.value = _say(
                f"Request {req.request_id} ({req.proposal.kind} of {req.proposal.program_id}) "
                f"is {req.status}.",
                ok=True,
            )
        if self.customer_id is not None:
            keep = self.program.value
            self.show(self.customer_id, keep)

    def propose_enrollment(self) -> None:
        """Propose enrolling the customer shown into the program chosen."""
        if self.customer_id is None or not self.program.value:
            self.message.value = _say("Choose a customer and an eligible program.", ok=False)
            return
        self._record(
            Proposal.enrollment(
                self.program.value,
                self.customer_id,
                effective=self.effective.value.strip() or None,
                reason=self.reason.value,
            )
        )

    def propose_variant(self) -> None:
        """Propose the variant in the form (refused, with the rule, if it breaks one)."""
        try:
            proposal = self._variant()
        except (RebateLabError, ValueError) as exc:
            self.message.value = _say(f"Refused: {exc}", ok=False)
            return
        self._record(proposal)


class ManagerQueue(_Changes):
    """The manager's queue: pending requests, their guardrail result and forecast effect.

    Parameters
    ----------
    workspace : path
        The workspace file.
    data : RebateData
    programs : ProgramSet or path
    as_of : date-like
        The day of the forecast used for the effect of approving.
    user : str, optional
        Who decides (default ``$REBATELAB_USER`` / ``$USER``); editable in ``.user``. A
        request proposed by the same user is refused with the message shown.

    Attributes
    ----------
    widget : ipywidgets.VBox
    table : ipywidgets.HTML
        One row per pending request: who, why, the check, and expected rebate and projected
        basis of the customers concerned before and after approving.
    request : ipywidgets.Dropdown
        The request to decide on.
    reason : ipywidgets.Text
    approve_button, reject_button : ipywidgets.Button
    pending : DataFrame
        The rows of the table.
    """

    def __init__(self, *, workspace, data, programs, as_of, user=None):
        super().__init__(workspace=workspace, data=data, programs=programs, as_of=as_of, user=user)
        self._effects: dict[int, pd.DataFrame] = {}
        self.pending = pd.DataFrame()
        self.table = w.HTML()
        self.table.add_class("rl-queue")
        self.request = w.Dropdown(description="Request", options=[])
        self.request.add_class("rl-request")
        self.reason = w.Text(description="Reason", placeholder="why (recorded)")
        self.reason.add_class("rl-decision-reason")
        self.approve_button = w.Button(description="Approve", button_style="success")
        self.approve_button.add_class("rl-approve")
        self.reject_button = w.Button(description="Reject", button_style="danger")
        self.reject_button.add_class("rl-reject")
        self.approve_button.on_click(lambda _b: self.decide("approved"))
        self.reject_button.on_click(lambda _b: self.decide("rejected"))
        self.refresh_button = w.Button(description="Refresh")
        self.refresh_button.add_class("rl-refresh")
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.decided = w.HTML()
        self.decided.add_class("rl-decided")
        self.widget = w.VBox(
            [
                w.HTML(_CSS),
                w.HTML("<h4>Pending change requests</h4>"),
                self.table,
                w.HBox([self.request, self.reason]),
                w.HBox([self.user, self.approve_button, self.reject_button, self.refresh_button]),
                self.message,
                w.HTML("<b>Decided</b>"),
                self.decided,
            ]
        )
        self.widget.add_class("rl-manager-queue")
        self.refresh()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def _effect(self, req) -> pd.DataFrame:
        # one small forecast per request, kept until a decision changes the terms in force
        if req.request_id not in self._effects:
            self._effects[req.request_id] = approval_effect(
                self.data, self.programs, req, self.as_of, workspace=self.workspace
            )
        return self._effects[req.request_id]

    def refresh(self) -> None:
        """Re-read the workspace: the pending requests and the decided ones."""
        rows = []
        pending = requests(self.workspace, status="pending")
        for r in pending:  # the pending requests: a handful
            e = self._effect(r).set_index("terms")
            rows.append(
                {
                    "request_id": r.request_id,
                    "kind": r.proposal.kind,
                    "program_id": r.proposal.variant_id or r.proposal.program_id,
                    "customers": ", ".join(r.proposal.customers),
                    "effective": r.proposal.effective,
                    "proposed_by": r.proposed_by,
                    "reason": r.proposal.reason,
                    "check": r.check,
                    "rebate_before": e.at["before", "expected_rebate"],
                    "rebate_after": e.at["after", "expected_rebate"],
                    "basis_before": e.at["before", "projected_basis"],
                    "basis_after": e.at["after", "projected_basis"],
                }
            )
        cols = [
            "request_id", "kind", "program_id", "customers", "effective", "proposed_by",
            "reason", "check", "rebate_before", "rebate_after", "basis_before", "basis_after",
        ]  # fmt: skip
        self.pending = pd.DataFrame(rows, columns=cols)
        fmt = {c: self._money for c in cols[-4:]}
        self.table.value = html_table(self.pending, formats=fmt, empty="No pending request.")
        self.request.options = [
            (f"{r.request_id}: {r.proposal.kind} {r.proposal.program_id}", r.request_id)
            for r in pending
        ]
        self.request.value = pending[0].request_id if pending else None
        h = history(self.workspace)
        done = h[h["event"].isin(["approved", "rejected", "refused"])]
        cols_done = ["request_id", "kind", "program_id", "customers", "event", "user", "reason"]
        self.decided.value = html_table(done[cols_done].iloc[::-1], empty="Nothing decided yet.")

    def decide(self, decision: str) -> None:
        """Approve or reject the chosen request as ``.user`` with ``.reason``."""
        rid = self.request.value
        if rid is None:
            self.message.value = _say("No pending request to decide on.", ok=False)
            return
        fn = approve if decision == "approved" else reject
        try:
            req = fn(self.workspace, rid, user=self.user.value, reason=self.reason.value)
        except RebateLabError as exc:
            self.message.value = _say(f"Refused: {exc}", ok=False)
            return
        self._effects.clear()  # the terms in force changed
        self.message.value = _say(
            f"Request {req.request_id} {req.status} by {req.decided_by}.", ok=True
        )
        self.reason.value = ""
        self.refresh()
