"""Review for sales managers: one digest per rep (CSV and HTML) and an overall ranking.

Reduces the lines once (stage one), accrues and forecasts every program as of --as-of, then
writes to --out:
``overall_opportunities.csv``, ``overall_risks.csv``, ``eligible_not_enrolled.csv``,
``money_map.csv``, ``overall.html`` and, per rep, ``reps/<rep>.csv`` and ``reps/<rep>.html``
with the rep's opportunities (with the sentence to say), risks and eligible customers.
Risks compare with a forecast one month earlier when the data reaches back that far.
--statements also writes each customer's rebate statement, ``statements/<customer>.html``.

The rules are the dashboard's (:mod:`rebatelab.review.worklist`): programs whose period is
open only, rows worth less than --min-value left out, and a buying group's row under the
rep of most of its members (ties: the smallest rep id). With --workspace (default:
``rebatelab.duckdb`` in the data folder, when there is one) only the approved terms and
enrollments in force on --as-of are reviewed.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from rebatelab.cli.commands._common import (
    add_data_arguments,
    check_output,
    parse_date,
    programs_path,
    write_table,
)
from rebatelab.errors import ParameterError

NAME = "review"


HELP = "ranked opportunities, risks and eligible customers: one digest per rep"


def add_arguments(parser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, help="output folder")
    parser.add_argument("--method", default=None, help="forecast method (default: the default)")
    parser.add_argument("--rep", action="append", default=None, help="only this rep (repeat)")
    parser.add_argument("--region", action="append", default=None, help="only this region")
    parser.add_argument("--segment", action="append", default=None, help="only this segment")
    parser.add_argument("--program", action="append", default=None, help="only this program")
    parser.add_argument(
        "--no-eligible",
        action="store_true",
        help="skip the eligible-but-not-enrolled search (it forecasts every eligible customer)",
    )
    parser.add_argument("--top", type=int, default=25, help="rows per section in the HTML")
    parser.add_argument(
        "--min-value",
        type=float,
        default=50.0,
        help="leave out rows worth less than this (value at stake, at risk, or rebate an "
        "eligible customer would earn) [currency]; default 50",
    )
    parser.add_argument(
        "--workspace",
        type=Path,
        default=None,
        help="workspace file whose approved change requests are applied first (default: "
        "rebatelab.duckdb in the data folder, if any)",
    )
    parser.add_argument(
        "--statements",
        action="store_true",
        help="also write every customer's rebate statement to statements/<customer>.html",
    )


def _slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).strip("_")
    return s or "unassigned"


def prepare(args):
    """Load, apply the workspace, reduce, accrue, forecast and build the work lists.

    Returns
    -------
    (Worklists, Reduction, accrual, forecast, as_of)
    """
    import pandas as pd

    from rebatelab.engine.accrual import accrue
    from rebatelab.engine.stage_one import reduce
    from rebatelab.forecasting.projection import forecast
    from rebatelab.io.folders import load_data
    from rebatelab.money import currency_symbol, data_currency
    from rebatelab.programs.terms import load_programs
    from rebatelab.review.worklist import ReviewRules, worklists

    as_of = parse_date(args.as_of)
    if args.top < 1:
        raise ParameterError(f"--top must be at least 1, got {args.top}")
    if args.min_value < 0:
        raise ParameterError(f"--min-value must be >= 0, got {args.min_value}")
    if getattr(args, "out", None) is not None:
        check_output(args.out, option="--out", folder=True)
    data = load_data(args.data, date_format=args.date_format)
    programs = load_programs(programs_path(args))
    ws = args.workspace
    if ws is not None and not Path(ws).is_file():
        raise ParameterError(f"--workspace: no workspace file at {ws}")
    if ws is None and (Path(args.data) / "rebatelab.duckdb").is_file():
        ws = Path(args.data) / "rebatelab.duckdb"
    if ws is not None:
        from rebatelab.workspace.changes import apply_workspace

        data, programs = apply_workspace(data, programs, ws, as_of)
    kw = {} if args.method is None else {"method": args.method}
    red = reduce(data, programs, as_of)
    acc = accrue(red)
    fc = forecast(red, **kw)
    previous = None
    before = (pd.Timestamp(as_of) - pd.DateOffset(months=1)).date()
    try:
        previous = forecast(data, programs, before, **kw)
    except ParameterError as exc:
        warnings.warn(f"no forecast a month earlier ({before}): {exc}", stacklevel=1)
    symbol = currency_symbol(data_currency(data))
    wl = worklists(
        acc,
        fc,
        red,
        previous=previous,
        eligible=not getattr(args, "no_eligible", False),
        method=args.method,
        rules=ReviewRules(min_value=args.min_value, top=args.top),
        currency=symbol,
    )
    return wl, red, acc, fc, as_of


def run(args) -> int:
    # the package and pandas are imported here, so that the parser starts fast
    from rebatelab.money import currency_symbol, data_currency
    from rebatelab.report.digest import digest, digest_html
    from rebatelab.report.statement import statement
    from rebatelab.review.moneymap import money_map

    wl, red, acc, fc, as_of = prepare(args)
    symbol = wl.currency
    filters = dict(rep=args.rep, region=args.region, segment=args.segment, program=args.program)
    parts = wl.call_lists(**filters)
    opp, rsk, eli = parts["opportunities"], parts["risks"], parts["eligible"]
    out = Path(args.out)
    write_table(opp, out / "overall_opportunities.csv")
    write_table(rsk, out / "overall_risks.csv")
    if eli is not None:
        write_table(eli, out / "eligible_not_enrolled.csv")
    write_table(money_map(acc, fc, programs=red.programs), out / "money_map.csv")
    table = digest(opp, rsk, eli)
    (out / "overall.html").write_text(
        digest_html(
            table, title=f"Rebate review as of {as_of}: all reps", top=args.top, currency=symbol
        )
    )
    reps = sorted(set(red.customers.get("rep", pd_series()).dropna().astype(str)))
    if args.rep:
        reps = [r for r in reps if r in set(args.rep)]
    (out / "reps").mkdir(parents=True, exist_ok=True)
    for rep in reps:  # a loop over reps (a handful of files)
        mine = wl.call_lists(**{**filters, "rep": rep})
        t = digest(mine["opportunities"], mine["risks"], mine["eligible"])
        write_table(t, out / "reps" / f"{_slug(rep)}.csv")
        (out / "reps" / f"{_slug(rep)}.html").write_text(
            digest_html(
                t, title=f"Rebate review as of {as_of}: {rep}", top=args.top, currency=symbol
            )
        )
    n_statements = 0
    if args.statements:
        (out / "statements").mkdir(parents=True, exist_ok=True)
        acc_r, fc_r = acc.reset_index(drop=True), fc.reset_index(drop=True)
        groups = acc_r.groupby(acc_r["customer_id"].astype(str), sort=True).indices
        cur = currency_symbol(data_currency(red))
        for cid, rows in groups.items():  # one file per customer: I/O, not computation
            page = statement(cid, acc_r.iloc[rows], fc_r.iloc[rows], data=red, currency=cur)
            (out / "statements" / f"{_slug(cid)}.html").write_text(page)
        n_statements = len(groups)
    print(
        f"rebatelab review as of {as_of}: {len(opp)} opportunities, {len(rsk)} risks"
        + ("" if eli is None else f", {len(eli)} eligible not enrolled")
        + f" (worth at least {args.min_value:,.0f} each); {len(reps)} rep digests"
        + (f", {n_statements} statements" if args.statements else "")
        + f" -> {out}"
    )
    if len(opp):
        print("Top opportunities:")
        for s in opp.head(5).itertuples(index=False):
            print(f"  {s.rank}. {s.program_id} / {s.customer_id}: {s.sentence}")
    return 0


def pd_series():
    import pandas as pd

    return pd.Series(dtype=str)
