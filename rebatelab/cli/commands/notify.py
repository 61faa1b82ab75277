"""Email each account manager (rep) their review digest, through an SMTP server you name.

Builds the same work lists as ``rebatelab review`` (open programs, --min-value, a buying
group under the rep of most of its members) and writes one message per rep: the digest as
plain text and as HTML, from --sender to the rep's address. Without --send nothing is sent:
each message is written to --out as ``<rep>.eml`` (open it in a mail program to check it).
With --send each message goes through --smtp-host/--smtp-port (plain, --starttls or --ssl);
with --smtp-user the password is read from the environment variable named by
--password-env (default REBATELAB_SMTP_PASSWORD), never from the command line.

Reps' addresses: --recipients FILE (CSV with columns ``rep, email``), else ``reps.csv`` in
the data folder, else a ``rep_email`` column of the customers table. A rep with customers
but no address is refused (the message names them), never skipped silently.
"""

from __future__ import annotations

import os
from pathlib import Path

from rebatelab.cli.commands._common import add_data_arguments, check_output
from rebatelab.errors import ParameterError

NAME = "notify"

HELP = "email each rep their review digest (dry run by default: writes .eml files)"

#: The environment variable holding the SMTP password, unless --password-env names another.
PASSWORD_ENV = "REBATELAB_SMTP_PASSWORD"


def add_arguments(parser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--smtp-host", required=True, help="SMTP server host name")
    parser.add_argument("--smtp-port", required=True, type=int, help="SMTP server port")
    tls = parser.add_mutually_exclusive_group()
    tls.add_argument("--starttls", action="store_true", help="upgrade the connection (STARTTLS)")
    tls.add_argument("--ssl", action="store_true", help="connect with TLS from the start")
    parser.add_argument("--sender", required=True, help="the From: address")
    parser.add_argument("--smtp-user", default=None, help="log in as this user")
    parser.add_argument(
        "--password-env",
        default=PASSWORD_ENV,
        help=f"environment variable holding the password (default {PASSWORD_ENV})",
    )
    parser.add_argument(
        "--send", action="store_true", help="send the messages (default: dry run, write .eml)"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for the .eml files (needed for a dry run)"
    )
    parser.add_argument("--recipients", type=Path, default=None, help="CSV with columns rep, email")
    parser.add_argument("--rep", action="append", default=None, help="only this rep (repeat)")
    parser.add_argument("--method", default=None, help="forecast method (default: the default)")
    parser.add_argument("--top", type=int, default=25, help="rows per section of a message")
    parser.add_argument(
        "--min-value", type=float, default=50.0, help="leave out rows worth less [currency]"
    )
    parser.add_argument(
        "--workspace", type=Path, default=None, help="apply this workspace's approved changes"
    )
    parser.add_argument("--timeout", type=float, default=30.0, help="SMTP timeout [seconds]")


def recipients(args, customers) -> dict[str, str]:
    """Each rep's email address, from --recipients, ``reps.csv`` or the customers table."""
    import pandas as pd

    path = args.recipients
    if path is None and (Path(args.data) / "reps.csv").is_file():
        path = Path(args.data) / "reps.csv"
    if path is not None:
        if not Path(path).is_file():
            raise ParameterError(f"--recipients: no file at {path}")
        table = pd.read_csv(path, dtype=str)
        missing = [c for c in ("rep", "email") if c not in table.columns]
        if missing:
            raise ParameterError(
                f"{path}: missing column(s) {missing}; need rep, email (have {list(table.columns)})"
            )
        source = str(path)
    elif "rep_email" in customers.columns:
        table = customers[["rep", "rep_email"]].rename(columns={"rep_email": "email"})
        source = "the customers table (rep_email)"
    else:
        raise ParameterError(
            "no email addresses for the reps: the customers table has no rep_email column; "
            "give --recipients FILE (a CSV with columns rep, email) or put reps.csv in the "
            "data folder"
        )
    table = table.dropna(subset=["rep"]).astype({"rep": str})
    bad = table[~table["email"].fillna("").astype(str).str.contains(r"^[^@\s]+@[^@\s]+$")]
    if len(bad):
        raise ParameterError(
            f"{source}, column email: {len(bad)} row(s) without a valid address, e.g. "
            f"{bad[['rep', 'email']].head(5).to_dict('records')}"
        )
    twice = table.drop_duplicates(["rep", "email"])
    dup = twice[twice["rep"].duplicated(keep=False)]
    if len(dup):
        raise ParameterError(
            f"{source}: reps with more than one address: {sorted(set(dup['rep']))[:5]}"
        )
    return dict(zip(twice["rep"], twice["email"].astype(str), strict=True))


def message(*, rep: str, email: str, sender: str, table, as_of, currency: str, top: int):
    """The rep's digest as an :class:`email.message.EmailMessage` (text + HTML)."""
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    from rebatelab.report.digest import digest_html, digest_text

    kinds = table["kind"].astype(str)
    n_opp = int(kinds.eq("opportunity").sum())
    n_risk = int(kinds.str.startswith("risk").sum())
    n_new = int(kinds.eq("not enrolled").sum())
    title = f"Rebate review as of {as_of}: {rep}"
    msg = EmailMessage()
    msg["Subject"] = (
        f"{title} ({n_opp} opportunities, {n_risk} risks, {n_new} eligible not enrolled)"
    )
    msg["From"] = sender
    msg["To"] = email
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    msg.set_content(digest_text(table, title=title, currency=currency, top=top))
    msg.add_alternative(digest_html(table, title=title, currency=currency, top=top), subtype="html")
    return msg


def _send(args, messages) -> None:
    import smtplib
    import ssl

    password = None
    if args.smtp_user is not None:
        password = os.environ.get(args.password_env)
        if password is None:
            raise ParameterError(
                f"--smtp-user {args.smtp_user}: set the password in the environment variable "
                f"{args.password_env}"
            )
    try:
        conn: smtplib.SMTP
        if args.ssl:
            conn = smtplib.SMTP_SSL(
                args.smtp_host, args.smtp_port, timeout=args.timeout,
                context=ssl.create_default_context(),
            )  # fmt: skip
        else:
            conn = smtplib.SMTP(args.smtp_host, args.smtp_port, timeout=args.timeout)
        with conn:
            if args.starttls:
                conn.starttls(context=ssl.create_default_context())
            if args.smtp_user is not None:
                conn.login(args.smtp_user, str(password))
            for _rep, msg in messages:  # one message per rep
                conn.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise ParameterError(
            f"SMTP server {args.smtp_host}:{args.smtp_port}: {type(exc).__name__}: {exc}"
        ) from None


def run(args) -> int:
    from rebatelab.cli.commands.review import _slug, prepare
    from rebatelab.report.digest import digest

    if not args.send and args.out is None:
        raise ParameterError("a dry run writes .eml files: give --out DIR (or --send)")
    if args.out is not None:
        check_output(args.out, option="--out", folder=True)
    if "@" not in str(args.sender):
        raise ParameterError(f"--sender: not an email address: {args.sender!r}")
    args.no_eligible = False
    wl, red, _acc, _fc, as_of = prepare(args)
    addresses = recipients(args, red.customers)
    reps = sorted(set(red.customers["rep"].dropna().astype(str)))
    if args.rep:
        unknown = sorted(set(args.rep) - set(reps))
        if unknown:
            raise ParameterError(f"--rep: no customer has rep {unknown}; reps are {reps}")
        reps = [r for r in reps if r in set(args.rep)]
    lost = [r for r in reps if r not in addresses]
    if lost:
        raise ParameterError(
            f"{len(lost)} rep(s) with customers have no email address: {lost[:10]}; add them "
            "to the recipients (or choose reps with --rep)"
        )
    messages = []
    for rep in reps:  # one message per rep
        parts = wl.call_lists(rep=rep)
        table = digest(parts["opportunities"], parts["risks"], parts["eligible"])
        msg = message(
            rep=rep, email=addresses[rep], sender=args.sender, table=table, as_of=as_of,
            currency=wl.currency, top=args.top,
        )  # fmt: skip
        messages.append((rep, msg))
    if args.out is not None:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for rep, msg in messages:  # one file per message
            (out / f"{_slug(rep)}.eml").write_bytes(bytes(msg))
    if args.send:
        _send(args, messages)
        where = f"sent through {args.smtp_host}:{args.smtp_port}"
    else:
        where = f"dry run, nothing sent; .eml files in {args.out}"
    print(f"rebatelab notify as of {as_of}: {len(messages)} messages ({where})")
    for rep, msg in messages:
        print(f"  {rep} <{msg['To']}>: {msg['Subject']}")
    return 0
