"""rebatelab notify: one digest email per rep, sent to a local SMTP server the test starts."""

from __future__ import annotations

import email
import email.policy
import socket

import pandas as pd
import pytest

from rebatelab.cli.main import main
from rebatelab.datasets import sample_path

aiosmtpd = pytest.importorskip("aiosmtpd")

SAMPLE = sample_path()
AS_OF = "2026-09-30"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Inbox:
    """An aiosmtpd handler keeping every message it receives."""

    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.received.append(
            (
                envelope.mail_from,
                list(envelope.rcpt_tos),
                email.message_from_bytes(envelope.content, policy=email.policy.default),
            )
        )
        return "250 OK"


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    port = _free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        yield inbox, port
    finally:
        ctl.stop()


@pytest.fixture(scope="module")
def reps_csv(tmp_path_factory):
    reps = sorted(pd.read_parquet(SAMPLE / "customers.parquet")["rep"].dropna().unique())
    path = tmp_path_factory.mktemp("recipients") / "reps.csv"
    pd.DataFrame({"rep": reps, "email": [f"{r.lower()}@example.com" for r in reps]}).to_csv(
        path, index=False
    )
    return path, reps


def _args(port, recipients, *extra):
    return [
        "notify", "--data", str(SAMPLE), "--as-of", AS_OF, "--method", "run_rate",
        "--smtp-host", "127.0.0.1", "--smtp-port", str(port), "--sender",
        "review@example.com", "--recipients", str(recipients), *extra,
    ]  # fmt: skip


def test_send_delivers_one_digest_per_rep(smtp, reps_csv, tmp_path, capsys):
    inbox, port = smtp
    path, reps = reps_csv
    assert main(_args(port, path, "--send")) == 0
    assert len(inbox.received) == len(reps)
    got = {tuple(rcpt): msg for _, rcpt, msg in inbox.received}
    assert set(got) == {(f"{r.lower()}@example.com",) for r in reps}
    for rep in reps:
        msg = got[(f"{rep.lower()}@example.com",)]
        assert msg["From"] == "review@example.com"
        assert msg["Subject"].startswith(f"Rebate review as of {AS_OF}: {rep} (")
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        assert "Opportunities: who to call this week" in text
        assert html.lstrip().startswith("<!DOCTYPE html>") and "<th>Rep</th>" in html
    assert f"{len(reps)} messages (sent through 127.0.0.1:{port})" in capsys.readouterr().out


def test_dry_run_writes_eml_files_and_sends_nothing(smtp, reps_csv, tmp_path):
    inbox, port = smtp
    path, reps = reps_csv
    out = tmp_path / "mail"
    assert main(_args(port, path, "--out", str(out), "--rep", "R03", "--rep", "R08")) == 0
    assert inbox.received == []
    files = sorted(p.name for p in out.glob("*.eml"))
    assert files == ["R03.eml", "R08.eml"]
    msg = email.message_from_bytes((out / "R08.eml").read_bytes(), policy=email.policy.default)
    assert msg["To"] == "r08@example.com" and "R08" in msg["Subject"]


def test_missing_addresses_are_refused_with_a_clear_message(smtp, reps_csv, tmp_path, capsys):
    _, port = smtp
    path, reps = reps_csv
    short = tmp_path / "short.csv"
    pd.read_csv(path).iloc[1:].to_csv(short, index=False)
    assert main(_args(port, short, "--out", str(tmp_path / "x"))) == 2
    err = capsys.readouterr().err
    assert "no email address" in err and reps[0] in err
    assert main(_args(port, tmp_path / "nope.csv", "--out", str(tmp_path / "y"))) == 2


def test_a_server_that_is_not_there_is_an_error_not_a_traceback(reps_csv, tmp_path, capsys):
    path, _ = reps_csv
    assert main(_args(_free_port(), path, "--send", "--rep", "R01")) == 2
    assert "SMTP server 127.0.0.1" in capsys.readouterr().err


def test_a_password_comes_from_the_environment_only(smtp, reps_csv, monkeypatch, capsys):
    _, port = smtp
    path, _ = reps_csv
    monkeypatch.delenv("REBATELAB_SMTP_PASSWORD", raising=False)
    assert main(_args(port, path, "--send", "--rep", "R01", "--smtp-user", "me")) == 2
    assert "REBATELAB_SMTP_PASSWORD" in capsys.readouterr().err
