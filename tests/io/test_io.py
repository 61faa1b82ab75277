"""Data folder validation: each error names the file, the column, the count and the values."""

import numpy as np
import pandas as pd
import pytest

from rebatelab import load_data
from rebatelab.errors import DataValidationError
from tests.conftest import make_frames, write_folder


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_loads_csv_and_parquet(tmp_path, fmt):
    tx, cu, pr, en = make_frames()
    tx["line_no"] = np.arange(len(tx))  # further columns are carried along
    d = load_data(write_folder(tmp_path / fmt, tx, cu, pr, en, fmt=fmt))
    assert len(d.transactions) == len(tx) and "line_no" in d.transactions
    assert d.transactions["date"].dtype == "datetime64[ns]"
    assert d.transactions["net_amount"].sum() == pytest.approx(tx["net_amount"].sum())
    assert d.customers["customer_id"].tolist() == list("ABCDE")


def test_ids_keep_leading_zeros(tmp_path):
    tx, cu, pr, en = make_frames()
    cu["customer_id"] = ["007", "B", "C", "D", "E"]
    tx["customer_id"] = tx["customer_id"].replace({"A": "007"})
    d = load_data(write_folder(tmp_path, tx, cu, pr))
    assert "007" in set(d.transactions["customer_id"])


def _broken(tmp_path, table, mutate):
    tx, cu, pr, en = make_frames()
    frames = {"transactions": tx, "customers": cu, "products": pr, "enrollments": en}
    frames[table] = mutate(frames[table].copy())
    return write_folder(
        tmp_path,
        frames["transactions"],
        frames["customers"],
        frames["products"],
        frames["enrollments"],
    )


CASES = [
    (
        "transactions",
        lambda d: d.drop(columns=["net_amount"]),
        r"transactions.csv: missing required column\(s\) \['net_amount'\]",
    ),
    (
        "transactions",
        lambda d: d.assign(date=d["date"].where(d.index != 3, "2025-13-45")),
        r"transactions.csv: column 'date': 1 row\(s\) are not dates of the form YYYY-MM-DD.* "
        r"\(data rows 4; values '2025-13-45'",
    ),
    (
        "transactions",
        lambda d: d.assign(
            net_amount=d["net_amount"].astype(object).where(d.index % 5 != 0, "12,50")
        ),
        r"column 'net_amount': 3 row\(s\) are not numbers \(data rows 1, 6, 11; values '12,50'",
    ),
    (
        "transactions",
        lambda d: d.assign(customer_id=d["customer_id"].where(d.index != 2, "Z9")),
        r"column 'customer_id': 1 row\(s\) reference ids not in customers .*'Z9'",
    ),
    (
        "transactions",
        lambda d: d.assign(product_id=d["product_id"].where(d.index != 0, None)),
        r"column 'product_id': 1 row\(s\) are missing \(data rows 1",
    ),
    (
        "transactions",
        lambda d: pd.concat([d, d.iloc[[4]]]),
        r"column '\(all columns\)': 1 row\(s\) exactly repeat an earlier line.*data rows 13.*'I4'",
    ),
    (
        "customers",
        lambda d: pd.concat([d, d.iloc[[1]]]),
        r"customers.csv: column 'customer_id': 1 row\(s\) repeat an id .*'B'",
    ),
    (
        "products",
        lambda d: pd.concat([d, d.iloc[[0, 2]]]),
        r"products.csv: column 'product_id': 2 row\(s\) repeat an id .*'P1', 'P3'",
    ),
    (
        "enrollments",
        lambda d: d.assign(customer_id=d["customer_id"].where(d.index != 0, "Q")),
        r"enrollments.csv: column 'customer_id': 1 row\(s\) reference ids not in customers",
    ),
]


@pytest.mark.parametrize(("table", "mutate", "message"), CASES)
def test_validation_errors(tmp_path, table, mutate, message):
    folder = _broken(tmp_path, table, mutate)
    with pytest.raises(DataValidationError, match=message):
        load_data(folder)


def test_missing_table_and_folder(tmp_path):
    tx, cu, pr, _ = make_frames()
    folder = write_folder(tmp_path / "d", tx, cu, pr)
    (folder / "products.csv").unlink()
    with pytest.raises(DataValidationError, match=r"no products.csv or products.parquet"):
        load_data(folder)
    with pytest.raises(DataValidationError, match="data folder not found"):
        load_data(tmp_path / "nowhere")


def test_ambiguous_table(tmp_path):
    tx, cu, pr, _ = make_frames()
    folder = write_folder(tmp_path, tx, cu, pr)
    cu.to_parquet(folder / "customers.parquet")
    with pytest.raises(DataValidationError, match="table 'customers' is ambiguous"):
        load_data(folder)


def test_unknown_ids_can_be_kept_and_excluded(tmp_path):
    from rebatelab import load_programs, reconcile
    from tests.conftest import PROGRAMS_YAML

    folder = _broken(
        tmp_path,
        "transactions",
        lambda d: d.assign(customer_id=d["customer_id"].where(d.index != 7, "Z9")),
    )
    d = load_data(folder, unknown_ids="exclude")
    rec = reconcile(d, load_programs(PROGRAMS_YAML), as_of="2025-12-31")
    unknown = rec[rec["reason"] == "unknown_customer"]
    assert set(unknown["program_id"]) == {"TOOLS", "POOL", "GROW", "ALL"}
    assert (unknown["net_amount"] == 700).all()  # line I7


# ------------------------------------------------------------------ lines left to DuckDB
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_lazy_folder_equals_in_memory(tmp_path, fmt):
    pytest.importorskip("duckdb")
    from rebatelab import accrue, load_programs, reduce
    from tests.conftest import PROGRAMS_YAML

    tx, cu, pr, en = make_frames()
    folder = write_folder(tmp_path / fmt, tx, cu, pr, en, fmt=fmt)
    lazy = load_data(folder, lines="lazy")
    eager = load_data(folder)
    assert lazy.lines_path is not None and len(lazy.transactions) == 0
    assert lazy.n_lines == len(tx) and lazy.date_range == eager.date_range
    programs = load_programs(PROGRAMS_YAML)
    a, b = reduce(lazy, programs, "2025-12-31"), reduce(eager, programs, "2025-12-31")
    pd.testing.assert_frame_equal(accrue(a), accrue(b))
    pd.testing.assert_frame_equal(a.reconciliation, b.reconciliation)


@pytest.mark.parametrize(
    ("table", "mutate", "message"), [c for c in CASES if c[0] == "transactions"]
)
def test_lazy_csv_gives_the_same_messages(tmp_path, table, mutate, message):
    """A small CSV with a problem is re-read in memory: the message names the data rows."""
    pytest.importorskip("duckdb")
    folder = _broken(tmp_path, table, mutate)
    with pytest.raises(DataValidationError, match=message):
        load_data(folder, lines="lazy")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d.assign(date=d["date"].where(d.index != 3, "2025-13-45")),
            r"transactions.csv: column 'date': 1 row\(s\) are not dates of the form YYYY-MM-DD"
            r".* \(values '2025-13-45'",
        ),
        (
            lambda d: d.assign(customer_id=d["customer_id"].where(d.index != 2, "Z9")),
            r"column 'customer_id': 1 row\(s\) reference ids not in customers \(values 'Z9'",
        ),
        (lambda d: pd.concat([d, d.iloc[[4]]]), r"1 row\(s\) exactly repeat an earlier line"),
        (
            lambda d: d.assign(quantity=d["quantity"].astype(object).where(d.index != 1, "x")),
            r"column 'quantity': 1 row\(s\) are not numbers \(values 'x'\)",
        ),
    ],
)
def test_lazy_csv_messages_from_sql(tmp_path, monkeypatch, mutate, message):
    """Past the size re-read in memory, DuckDB's own message: count and values."""
    pytest.importorskip("duckdb")
    from rebatelab.io import folders

    monkeypatch.setattr(folders, "EXACT_MESSAGE_BYTES", 0)
    folder = _broken(tmp_path, "transactions", mutate)
    with pytest.raises(DataValidationError, match=message):
        load_data(folder, lines="lazy")


def test_lazy_csv_parts_and_unknown_ids_excluded(tmp_path):
    pytest.importorskip("duckdb")
    from rebatelab import load_programs, reconcile, reduce
    from tests.conftest import PROGRAMS_YAML

    tx, cu, pr, en = make_frames()
    tx.loc[7, "customer_id"] = "Z9"
    folder = write_folder(tmp_path / "d", tx.iloc[:0], cu, pr, en)
    (folder / "transactions.csv").unlink()
    (folder / "transactions").mkdir()
    tx.iloc[:6].to_csv(folder / "transactions" / "a.csv", index=False)
    tx.iloc[6:].to_csv(folder / "transactions" / "b.csv", index=False)
    d = load_data(folder, lines="lazy", unknown_ids="exclude")
    assert d.n_lines == len(tx)
    rec = reduce(d, load_programs(PROGRAMS_YAML), "2025-12-31").reconciliation
    unknown = rec[rec["reason"] == "unknown_customer"]
    assert set(unknown["program_id"]) == {"TOOLS", "POOL", "GROW", "ALL"}
    assert (unknown["net_amount"] == 700).all()  # line I7
    want = reconcile(_eager(tx, cu, pr, en), load_programs(PROGRAMS_YAML), as_of="2025-12-31")
    pd.testing.assert_frame_equal(rec, want)


def _eager(tx, cu, pr, en):
    from rebatelab import RebateData

    return RebateData.from_frames(tx, cu, pr, en, unknown_ids="exclude")


# ------------------------------------------------------------------ dates written as text
def _dated(tmp_path, dates, *, fmt="csv", enrolled_on=None):
    """The small folder with the transactions' dates replaced (in order) by ``dates``."""
    tx, cu, pr, en = make_frames()
    tx = tx.iloc[: len(dates)].assign(date=list(dates))
    if enrolled_on is not None:
        en = en.assign(enrolled_on=enrolled_on)
    return write_folder(tmp_path, tx, cu, pr, en, fmt=fmt)


def _days(data):
    if data.lines_path is None:
        return [str(d.date()) for d in data.transactions["date"]]
    from rebatelab.engine.backends.store import line_store

    days = line_store(data).query("SELECT day FROM rl_lines").fetchdf()["day"]
    return sorted(str(np.datetime64("1970-01-01") + np.timedelta64(int(d), "D")) for d in days)


DAY_FIRST = ["05/03/2026", "31/03/2026", "01/12/2025"]


@pytest.mark.parametrize("lines", ["memory", "lazy"])
def test_a_date_not_in_iso_form_is_refused_naming_file_column_and_values(tmp_path, lines):
    """05/03/2026 is 5 March or 3 May: without a format it is refused, not guessed."""
    if lines == "lazy":
        pytest.importorskip("duckdb")
    folder = _dated(tmp_path, DAY_FIRST)
    with pytest.raises(DataValidationError) as err:
        load_data(folder, lines=lines)
    msg = str(err.value)
    for words in ["transactions.csv", "column 'date'", "3 row(s)", "'05/03/2026'", "YYYY-MM-DD"]:
        assert words in msg
    assert "date_format" in msg and "--date-format" in msg


@pytest.mark.parametrize("lines", ["memory", "lazy"])
@pytest.mark.parametrize(
    ("date_format", "dates", "expected"),
    [
        ("%d/%m/%Y", DAY_FIRST, ["2026-03-05", "2026-03-31", "2025-12-01"]),
        ("dayfirst", DAY_FIRST, ["2026-03-05", "2026-03-31", "2025-12-01"]),
        ("dayfirst", ["5.3.2026", "31-03-2026 17:45", "2026-01-02"], None),
        ("monthfirst", ["05/03/2026", "12/01/2025 08:00:00", "2026-01-02"], None),
        ("%Y%m%d", ["20260305", "2026-03-31"], ["2026-03-05", "2026-03-31"]),
    ],
)
def test_a_date_format_says_how_to_read_them(tmp_path, lines, date_format, dates, expected):
    if lines == "lazy":
        pytest.importorskip("duckdb")
    if expected is None:  # the worked readings of the named forms
        expected = {
            "dayfirst": ["2026-03-05", "2026-03-31", "2026-01-02"],
            "monthfirst": ["2026-05-03", "2025-12-01", "2026-01-02"],
        }[date_format]
    data = load_data(_dated(tmp_path, dates), lines=lines, date_format=date_format)
    got = _days(data)
    assert sorted(got) == sorted(expected)


@pytest.mark.parametrize("lines", ["memory", "lazy"])
def test_a_date_that_does_not_fit_the_format_is_refused(tmp_path, lines):
    if lines == "lazy":
        pytest.importorskip("duckdb")
    folder = _dated(tmp_path, ["05/03/2026", "2026-03-31", "03-05-2026"])
    with pytest.raises(DataValidationError, match=r"1 row\(s\) are not dates .*'03-05-2026'"):
        load_data(folder, lines=lines, date_format="%d/%m/%Y")


@pytest.mark.parametrize("lines", ["memory", "lazy"])
def test_iso_dates_with_times_and_mixed_offsets_count_on_the_date_written(tmp_path, lines):
    """The rule (README, data folder): the date as written; an offset is not applied."""
    if lines == "lazy":
        pytest.importorskip("duckdb")
    dates = [
        "2025-12-31T23:30:00-05:00",  # 2026-01-01 in UTC: still counts on 31 December
        "2026-01-01T00:15:00+01:00",  # 2025-12-31 in UTC: counts on 1 January
        "2026-03-05 10:00",
        "2026-03-06Z",
        " 2026-03-07T08:00:00.123Z ",
    ]
    got = _days(load_data(_dated(tmp_path, dates), lines=lines))
    assert sorted(got) == ["2025-12-31", "2026-01-01", "2026-03-05", "2026-03-06", "2026-03-07"]


def test_the_lazy_reader_of_large_files_refuses_the_same_dates(tmp_path, monkeypatch):
    """Above the re-read size, DuckDB's own message: the column and the values."""
    pytest.importorskip("duckdb")
    import rebatelab.io.folders as folders

    monkeypatch.setattr(folders, "EXACT_MESSAGE_BYTES", 0)
    with pytest.raises(DataValidationError, match=r"column 'date'.*'05/03/2026'"):
        load_data(_dated(tmp_path, DAY_FIRST), lines="lazy")


def test_parquet_text_dates_read_lazily_with_the_format(tmp_path):
    pytest.importorskip("duckdb")
    folder = _dated(tmp_path, DAY_FIRST, fmt="parquet")
    with pytest.raises(DataValidationError, match="not dates of the form YYYY-MM-DD"):
        load_data(folder, lines="lazy")
    got = _days(load_data(folder, lines="lazy", date_format="dayfirst"))
    assert got == ["2025-12-01", "2026-03-05", "2026-03-31"]


def test_every_date_column_follows_the_rule(tmp_path):
    """enrollments.enrolled_on and payments.date are read like the lines' dates."""
    tx, cu, pr, en = make_frames()
    folder = write_folder(tmp_path, tx, cu, pr, en.assign(enrolled_on="01/02/2025"))
    with pytest.raises(DataValidationError, match=r"enrollments.csv: column 'enrolled_on'"):
        load_data(folder)
    d = load_data(folder, date_format="dayfirst")
    assert (d.enrollments["enrolled_on"] == pd.Timestamp("2025-02-01")).all()
    pay = pd.DataFrame({"program_id": ["TOOLS"], "customer_id": ["A"]})
    pay = pay.assign(date="28/02/2026", amount=1.0)
    pay.to_csv(folder / "payments.csv", index=False)
    with pytest.raises(DataValidationError, match=r"payments.csv: column 'date'.*'28/02/2026'"):
        load_data(folder, date_format="monthfirst")
    d = load_data(folder, date_format="dayfirst")
    assert d.payments["date"].tolist() == [pd.Timestamp("2026-02-28")]


@pytest.mark.parametrize("bad", ["DD/MM/YYYY", "%d/%m/%Y %z", "yearfirst"])
def test_a_bad_date_format_is_refused_before_reading(tmp_path, bad):
    from rebatelab.errors import ParameterError

    with pytest.raises(ParameterError, match="date_format"):
        load_data(tmp_path, date_format=bad)


@pytest.mark.parametrize("lines", ["memory", "lazy"])
def test_typed_timestamps_with_a_time_zone_count_on_their_utc_date(tmp_path, lines):
    """Parquet keeps the instant, not the text: both readers take its UTC date."""
    if lines == "lazy":
        pytest.importorskip("duckdb")
    stamps = pd.to_datetime(["2026-03-31 23:30", "2026-04-01 00:30", "2026-04-02 12:00"])
    stamps = stamps.tz_localize("America/New_York")  # 31 March 23:30 is 1 April 03:30 UTC
    got = _days(load_data(_dated(tmp_path, list(stamps), fmt="parquet"), lines=lines))
    assert sorted(got) == ["2026-04-01", "2026-04-01", "2026-04-02"]


@pytest.mark.parametrize("backend", ["duckdb", "dask"])
def test_every_backend_reads_text_dates_with_the_format(tmp_path, backend):
    """Lines left in Parquet files with day-first text dates: the backends read them alike."""
    pytest.importorskip("duckdb")
    if backend == "dask":
        pytest.importorskip("dask")
    from rebatelab import accrue, load_programs
    from tests.conftest import PROGRAMS_YAML

    tx, cu, pr, en = make_frames()
    tx["date"] = pd.to_datetime(tx["date"]).dt.strftime("%d/%m/%Y")
    folder = write_folder(tmp_path, tx, cu, pr, en, fmt="parquet")
    programs = load_programs(PROGRAMS_YAML)
    eager = accrue(load_data(folder, date_format="dayfirst"), programs, "2025-12-31")
    lazy = load_data(folder, lines="lazy", date_format="dayfirst")
    pd.testing.assert_frame_equal(accrue(lazy, programs, "2025-12-31", backend=backend), eager)


def test_from_frames_reads_dates_like_load_data():
    from rebatelab import RebateData

    tx, cu, pr, en = make_frames()
    tx["date"] = pd.to_datetime(tx["date"]).dt.strftime("%m/%d/%Y")
    with pytest.raises(DataValidationError, match="<frames>/transactions: column 'date'"):
        RebateData.from_frames(tx, cu, pr, en)
    d = RebateData.from_frames(tx, cu, pr, en, date_format="monthfirst")
    assert d.transactions["date"].iloc[0] == pd.Timestamp("2024-03-01")
    assert d.date_format == "monthfirst"
