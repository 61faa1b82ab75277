"""The dashboards' cache: results read back equal, keyed by every input, never stale."""

import dataclasses
import os
import shutil
import warnings

import pandas as pd
import pytest

import rebatelab as rl
from rebatelab.cli.main import main
from rebatelab.finance.liability import LiabilityOptions
from rebatelab.io.cache import InputCache, input_fingerprint
from tests.conftest import SAMPLE

AS_OF = "2026-09-30"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A copy of the sample with its lines as CSV (so that one digit can be edited in place)."""
    d = tmp_path_factory.mktemp("sample")
    for p in SAMPLE.iterdir():
        if p.is_file() and p.name != "transactions.parquet":
            shutil.copy(p, d / p.name)
    pd.read_parquet(SAMPLE / "transactions.parquet").to_csv(d / "transactions.csv", index=False)
    return d


@pytest.fixture(scope="module")
def filled(folder, tmp_path_factory):
    cache_dir = tmp_path_factory.mktemp("cache")
    cache = InputCache(folder, as_of=AS_OF, method="run_rate", cache_dir=cache_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        cache.precompute(shocks=(0.0, 0.1))
    return cache


def reopen(cache, folder=None, **kw):
    args = dict(as_of=AS_OF, method="run_rate", cache_dir=cache.root)
    args.update(kw)
    return InputCache(folder or cache.folder, **args)


def test_reduction_read_back_equals_the_one_computed(filled):
    again = reopen(filled)
    assert again.key == filled.key
    red, back = filled.reduction(), again.reduction()
    assert again.hits == ["reduction"] and not again.misses
    for f in dataclasses.fields(red):
        a, b = getattr(red, f.name), getattr(back, f.name)
        if isinstance(a, pd.DataFrame):
            pd.testing.assert_frame_equal(a, b, check_exact=True)
        elif f.name == "programs":
            assert a.to_yaml() == b.to_yaml() and a.known_ids == b.known_ids
        elif a is None or pd.isna(a):
            assert b is None or pd.isna(b)
        else:
            assert a == b, f.name
    # downstream of the stored reduction: the same accrual, to the cent
    pd.testing.assert_frame_equal(rl.accrue(red), rl.accrue(back), check_exact=True)


def test_a_stored_reduction_reads_each_table_when_first_used(filled):
    from rebatelab.engine.stage_one import Reduction

    back = reopen(filled).reduction()
    assert isinstance(back, Reduction)
    assert "daily" not in {k for k, v in vars(back).items() if isinstance(v, pd.DataFrame)}
    assert back.stored_rows("candidates") == len(filled.reduction().candidates)
    assert len(back.members)  # read now, the others still not
    held = {k for k, v in vars(back).items() if isinstance(v, pd.DataFrame)}
    assert held == {"members"}


@pytest.mark.parametrize("in_memory", [False, True])
def test_daily_rows_are_the_rows_of_those_members(filled, in_memory):
    """Row groups skipped by member: the same rows as a mask of the whole table."""
    red = filled.reduction()
    full = red.daily
    again = reopen(filled)
    if in_memory:
        assert len(again.reduction().daily)  # read: a mask of the frame
    cols = ["member", "date", "net_amount", "quantity"]
    members = full["member"].to_numpy()
    for ids in ([], [int(members[0])], sorted({int(members[5]), int(members[-1]), 10**9})):
        got = again.daily_rows(ids, columns=cols)
        want = full[full["member"].isin(ids)][cols].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, want, check_exact=True, check_dtype=False)
        assert len(got) == int(pd.Series(members).isin(ids).sum())


def test_every_result_is_read_not_recomputed(filled):
    again = reopen(filled)
    names = again.precompute(shocks=(0.0, 0.1))
    assert not again.misses, again.misses
    assert {"reduction", "accrual", "forecast", "money_map", "review-opportunities",
            "review-risks", "review-eligible"} <= set(names)  # fmt: skip


def test_stored_liability_equals_the_liability_at_every_percentile(filled, folder):
    data, programs = rl.load_data(folder), rl.load_programs(folder / "programs.yaml")
    again = reopen(filled)
    for shock, pct in ((0.0, 0.8), (0.0, 0.93), (0.1, 0.6)):
        opts = LiabilityOptions(method="run_rate", common_shock=shock, percentile=pct)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            want = rl.liability(data, programs, AS_OF, options=opts)
        got = again.liability(opts)
        for name in ("total", "by_program", "by_customer"):
            pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name))
        assert got.dist.quantile(0.37) == want.dist.quantile(0.37)
    assert not again.misses


def test_an_edited_line_is_never_read_from_the_stale_entry(filled, folder, tmp_path):
    """One digit of one amount edited, size and modification time kept: a new key."""
    edited = tmp_path / "edited"
    shutil.copytree(folder, edited)
    path = edited / "transactions.csv"
    st = path.stat()
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    cols = lines[0].rstrip("\n").split(",")
    j = cols.index("net_amount")
    for i in range(1, len(lines)):
        cells = lines[i].rstrip("\n").split(",")
        date = cells[cols.index("date")]
        d = cells[j]
        if date.startswith("2026-0") and d[:1].isdigit() and d[0] not in "9":
            cells[j] = str(int(d[0]) + 1) + d[1:]  # +10^k: same number of characters
            lines[i] = ",".join(cells) + "\n"
            break
    assert "".join(lines) != text
    path.write_text("".join(lines))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    # the stored entry, copied beside it, is for the old content
    stale = reopen(filled, edited)
    assert stale.key != filled.key and not stale.has("reduction")
    acc = stale.accrual()
    assert "reduction" in stale.misses and "accrual" in stale.misses
    fresh = rl.accrue(rl.reduce(rl.load_data(edited), rl.load_programs(edited / "programs.yaml"),
                                AS_OF))  # fmt: skip
    pd.testing.assert_frame_equal(acc, fresh)
    # with check="stat" a change of size or time is what tells files apart
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert input_fingerprint(edited, check="stat") != input_fingerprint(folder, check="stat")


def test_key_follows_terms_day_method_and_files(filled, folder, tmp_path):
    base = reopen(filled)
    assert reopen(filled, as_of="2026-08-31").key != base.key
    assert reopen(filled, method=None).key != base.key
    other = tmp_path / "terms"
    shutil.copytree(folder, other)
    prog = other / "programs.yaml"
    prog.write_text("# a comment changes no term\n" + prog.read_text())
    assert reopen(filled, other).key == base.key  # same files and terms
    prog.write_text(prog.read_text().replace("rate: 0.02", "rate: 0.021", 1))
    assert reopen(filled, other).key != base.key
    (other / "customers.parquet").write_bytes(b"")  # any table file's content
    assert input_fingerprint(other) != input_fingerprint(folder)


def test_an_entry_written_for_other_inputs_is_not_used(filled, tmp_path):
    moved = tmp_path / "c"
    shutil.copytree(filled.path, moved / filled.key)
    other = reopen(filled, as_of="2026-08-31", cache_dir=moved)
    # another key's entry placed under this key's name: inputs.json does not match
    shutil.copytree(filled.path, moved / other.key)
    assert not other.has("reduction") and other.entries() == []


def test_prune_keeps_the_current_entry(filled, tmp_path):
    root = tmp_path / "c"
    a = reopen(filled, cache_dir=root)
    a.value("x", lambda: 1)
    b = reopen(filled, cache_dir=root, as_of="2026-08-31")
    b.value("x", lambda: 2)
    assert b.prune() == [a.path] and b.path.is_dir() and not a.path.exists()


def test_unwritable_folder_computes_and_warns(folder, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cache = InputCache(folder, as_of=AS_OF, method="run_rate", cache_dir=blocker / "cache")
    with pytest.warns(UserWarning, match="cannot write"):
        assert cache.value("answer", lambda: 42) == 42


def test_precompute_command_then_views_read_everything(folder, tmp_path, capsys):
    cache_dir = tmp_path / "cache"
    code = main(["precompute", "--data", str(folder), "--as-of", AS_OF, "--method", "run_rate",
                 "--cache-dir", str(cache_dir)])  # fmt: skip
    assert code == 0
    out = capsys.readouterr().out
    assert "rebatelab precompute:" in out and "computed" in out
    code = main(["precompute", "--data", str(folder), "--as-of", AS_OF, "--method", "run_rate",
                 "--cache-dir", str(cache_dir)])  # fmt: skip
    assert "computed 0," in capsys.readouterr().out


def test_precompute_stores_the_designers_base_unless_told_not_to(folder, tmp_path, capsys):
    pytest.importorskip("ipywidgets")
    from rebatelab.widgets import ProgramDesigner

    none = tmp_path / "none"
    assert main(["precompute", "--data", str(folder), "--as-of", AS_OF, "--no-eligible",
                 "--no-designer", "--cache-dir", str(none)]) == 0  # fmt: skip
    assert not InputCache(folder, as_of=AS_OF, cache_dir=none).has("designer-base")
    cache_dir = tmp_path / "cache"
    assert main(["precompute", "--data", str(folder), "--as-of", AS_OF, "--no-eligible",
                 "--cache-dir", str(cache_dir)]) == 0  # fmt: skip
    capsys.readouterr()
    view = ProgramDesigner.from_folder(folder, as_of=AS_OF, cache_dir=cache_dir,
                                       save_dir=tmp_path)  # fmt: skip
    assert "designer-base" in view.cache.hits and not view.cache.misses
    assert view.cache._data is None  # opened and run without the lines
    assert view.forecast_rebate  # the forecast's figure, stored for a small base


def test_precompute_bad_shock_is_exit_2(folder, tmp_path, capsys):
    code = main(["precompute", "--data", str(folder), "--common-shock", "0,big",
                 "--cache-dir", str(tmp_path)])  # fmt: skip
    assert code == 2
    assert "--common-shock" in capsys.readouterr().err
