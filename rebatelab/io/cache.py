"""Precomputed results on disk, keyed by their inputs: what the dashboards open from.

Reducing the lines, forecasting every customer and convolving the liability take minutes on
a base of 50,000 customers; the dashboards need those results, not the lines. An
:class:`InputCache` stores them under ``DATA/.rebatelab-cache/<key>/`` (or a folder named by
``cache_dir``) as Parquet tables, ``.npz`` arrays and JSON, never pickles, where ``<key>`` is
a hash of everything they depend on:

- the content of every table file of the data folder (``transactions``, ``customers``,
  ``products``, ``enrollments``, ``payments``; each file of a folder of Parquet parts), or
  with ``check="stat"`` their size and modification time;
- the programs' terms (:meth:`~rebatelab.programs.terms.ProgramSet.to_yaml`, so an edit of
  the program file that changes a term changes the key) and any further file named by
  ``extra_files`` (the workspace whose approved changes apply);
- the as-of day, the forecast method, the loading options, the rebatelab version and the
  layout version of the cache.

A changed input gives another key, hence another folder: a stale entry is never read. Each
result is computed on first use and written (atomically: to a temporary name, then renamed),
or read when its file exists. ``rebatelab precompute`` fills the cache ahead of time (e.g.
nightly), so that a dashboard opens from it in about a second.

Examples
--------
>>> import tempfile
>>> from rebatelab.datasets import sample_path
>>> cache = InputCache(sample_path(), as_of="2026-09-30", cache_dir=tempfile.mkdtemp())
>>> red = cache.reduction()            # computed and written the first time
>>> again = InputCache(sample_path(), as_of="2026-09-30", cache_dir=cache.root)
>>> again.key == cache.key, again.has("reduction")
(True, True)
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from rebatelab.errors import ParameterError
from rebatelab.io.folders import find_table

__all__ = ["InputCache", "CACHE_DIR_NAME", "LAYOUT", "input_fingerprint", "dir_size"]

#: The cache folder inside a data folder.
CACHE_DIR_NAME = ".rebatelab-cache"
#: Version of the cache's layout: a change of what is stored, or how, changes every key.
LAYOUT = 1
#: The table files of a data folder that the results depend on.
TABLES = ("transactions", "customers", "products", "enrollments", "payments")

_CHUNK = 1 << 22


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("rebatelab")
    except PackageNotFoundError:  # a source tree that is not installed
        return "unknown"


def _file_digest(path: Path, check: str) -> str:
    st = path.stat()
    if check == "stat":
        return f"{st.st_size}:{st.st_mtime_ns}"
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while block := f.read(_CHUNK):
            h.update(block)
    return f"{st.st_size}:{h.hexdigest()}"


def input_fingerprint(folder, *, extra_files=(), check: str = "content") -> dict[str, str]:
    """What the data folder's tables (and further files) are, file by file.

    Parameters
    ----------
    folder : str or Path
        The data folder.
    extra_files : iterable of path
        Further files the results depend on (a missing one is recorded as missing).
    check : {"content", "stat"}
        ``content`` (default): size and a BLAKE2 hash of each file's bytes (about 0.1 s per
        100 MB); ``stat``: size and modification time only (for very large folders; an
        edit that keeps both is then not seen).

    Returns
    -------
    dict of str -> str
        Relative name of each file -> its digest, in a fixed order.
    """
    if check not in ("content", "stat"):
        raise ParameterError(f"check must be 'content' or 'stat', got {check!r}")
    folder = Path(folder)
    out: dict[str, str] = {}
    for name in TABLES:
        p = find_table(folder, name)
        if p is None:
            continue
        files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
        for q in files:
            out[str(q.relative_to(folder))] = _file_digest(q, check)
    for extra in extra_files:
        q = Path(extra)
        out[f"extra:{q.resolve()}"] = _file_digest(q, check) if q.is_file() else "missing"
    return out


def dir_size(path) -> int:
    """Bytes of the files under ``path``."""
    return sum(q.stat().st_size for q in Path(path).rglob("*") if q.is_file())


def _frame_to_parquet(df: pd.DataFrame, path: Path, **options) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    df.to_parquet(tmp, index=not isinstance(df.index, pd.RangeIndex) or df.index.start != 0,
                  **options)  # fmt: skip
    os.replace(tmp, path)


#: Rows per Parquet row group of the stored daily sums: a drill-down reads the groups holding
#: one pool's members (sorted by member), about 4 ms instead of 0.3 s for 1.9M rows.
DAILY_ROW_GROUP = 65_536


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _new_folder(folder: Path) -> Path:
    """An empty temporary folder beside ``folder`` (whose old copy is removed) to fill."""
    if folder.exists():
        shutil.rmtree(folder)
    tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex}.tmp")
    tmp.mkdir(parents=True)
    return tmp


def _finish_folder(tmp: Path, folder: Path, meta: dict) -> None:
    """Write ``meta`` as ``_done.json`` and move the filled folder into place, whole."""
    (tmp / "_done.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
    os.replace(tmp, folder)


def _stamp(value) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).isoformat()


class InputCache:
    """The results the dashboards need for one data folder, programs, as-of day and method.

    Parameters
    ----------
    folder : str or Path
        The data folder (read with :func:`rebatelab.io.folders.load_data` on a miss).
    programs : ProgramSet or path, optional
        The programs (default ``programs.yaml`` in the folder).
    as_of : date-like, optional
        The as-of day; default the last transaction date.
    method : str, optional
        Forecast method (:func:`rebatelab.forecast`); None: its default.
    cache_dir : str or Path, optional
        Where the cache lives (default ``folder / ".rebatelab-cache"``).
    extra_files : iterable of path
        Further files the results depend on (e.g. the workspace that ``prepare`` applies).
    prepare : callable, optional
        ``prepare(data, programs) -> (data, programs)`` applied after loading, on a miss
        (e.g. applying a workspace's approved change requests); the programs it returns are
        stored, so a hit needs no call.
    check : {"content", "stat"}
        How files are told apart (:func:`input_fingerprint`).
    load_options : dict, optional
        Keyword arguments of ``load_data`` (``unknown_ids``, ``date_format``); part of the key.
    extra_key : dict, optional
        Further values the results depend on (text), e.g. a digest of the change requests
        in force that ``prepare`` applies; part of the key.

    Attributes
    ----------
    key : str
        Hex digest of the inputs; the entry folder is ``root / key``.
    path : Path
        The entry folder.
    inputs : dict
        What the key is a hash of (written to ``inputs.json`` in the entry).
    hits, misses : list of str
        The results read from disk and those computed, in order (for messages and tests).
    """

    def __init__(
        self,
        folder,
        programs=None,
        *,
        as_of=None,
        method: str | None = None,
        cache_dir=None,
        extra_files=(),
        prepare: Callable | None = None,
        check: str = "content",
        load_options: dict | None = None,
        extra_key: dict | None = None,
    ):
        from rebatelab.programs.terms import load_programs

        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ParameterError(f"data folder not found: {self.folder}")
        self._programs_in = load_programs(
            programs if programs is not None else self.folder / "programs.yaml"
        )
        self.as_of = None if as_of is None else pd.Timestamp(as_of).normalize()
        self.method = method
        self.root = Path(cache_dir) if cache_dir is not None else self.folder / CACHE_DIR_NAME
        self.prepare = prepare
        self.load_options = dict(load_options or {})
        self.inputs = {
            "layout": LAYOUT,
            "rebatelab": _version(),
            "files": input_fingerprint(self.folder, extra_files=extra_files, check=check),
            "check": check,
            "terms": hashlib.blake2b(
                self._programs_in.to_yaml().encode("utf-8"), digest_size=16
            ).hexdigest(),
            "as_of": None if self.as_of is None else str(self.as_of.date()),
            "method": method,
            "load_options": {k: str(v) for k, v in sorted(self.load_options.items())},
            "prepared": prepare is not None,
            "extra": {str(k): str(v) for k, v in sorted((extra_key or {}).items())},
        }
        text = json.dumps(self.inputs, sort_keys=True)
        self.key = hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()
        self.path = self.root / self.key
        self.hits: list[str] = []
        self.misses: list[str] = []
        self._data = None
        self._reduction = None
        self._memo: dict = {}
        self._read_only = False

    def __repr__(self) -> str:
        return f"InputCache({str(self.folder)!r}, key={self.key!r})"

    # -- the entry ---------------------------------------------------------------------------
    def _entry(self) -> Path:
        """The entry folder, created with its ``inputs.json`` on first write."""
        self.path.mkdir(parents=True, exist_ok=True)
        marker = self.path / "inputs.json"
        if not marker.exists():
            _write_text(marker, json.dumps(self.inputs, sort_keys=True, indent=1))
        return self.path

    def _valid(self) -> bool:
        """The entry exists and was written for exactly these inputs."""
        marker = self.path / "inputs.json"
        if not marker.exists():
            return False
        try:
            return json.loads(marker.read_text(encoding="utf-8")) == json.loads(
                json.dumps(self.inputs, sort_keys=True)
            )
        except (OSError, ValueError):
            return False

    def _store(self, write: Callable[[], None]) -> None:
        """Run ``write``; a folder that cannot be written warns once and stores nothing."""
        if self._read_only:
            return
        try:
            write()
        except OSError as exc:
            self._read_only = True
            warnings.warn(
                f"rebatelab cache: cannot write to {self.root} ({exc}); results are computed "
                "but not stored (name a writable folder with cache_dir=)",
                stacklevel=3,
            )

    def has(self, name: str) -> bool:
        """A result ``name`` is stored for these inputs."""
        if not self._valid():
            return False
        p = self.path / name
        return (p / "_done.json").exists() if p.is_dir() else (
            self.path / f"{name}.parquet"
        ).exists() or (self.path / f"{name}.npz").exists() or (
            self.path / f"{name}.json"
        ).exists()  # fmt: skip

    def entries(self) -> list[str]:
        """Names of the results stored for these inputs."""
        if not self._valid():
            return []
        names = []
        for p in sorted(self.path.iterdir()):
            if p.name.startswith(".") or p.name == "inputs.json":
                continue
            if p.is_dir():
                if (p / "_done.json").exists():
                    names.append(p.name)
            else:
                names.append(p.name.rsplit(".", 1)[0])
        return names

    def prune(self) -> list[Path]:
        """Remove the other entries of this cache folder (older inputs); the paths removed."""
        gone = []
        if not self.root.is_dir():
            return gone
        for p in self.root.iterdir():
            if p.is_dir() and p.name != self.key and (p / "inputs.json").exists():
                shutil.rmtree(p, ignore_errors=True)
                gone.append(p)
        return gone

    # -- generic results ---------------------------------------------------------------------
    def frame(self, name: str, compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """The table ``name``: read from the cache, else ``compute()`` and written.

        Parameters
        ----------
        name : str
            File name in the entry (letters, digits, ``-_.=``); include every parameter of
            ``compute`` that is not one of the cache's inputs.
        compute : callable
            Returns the DataFrame (Parquet-storable columns).
        """
        if name in self._memo:
            return self._memo[name]
        path = self.path / f"{name}.parquet"
        if self._valid() and path.exists():
            df = pd.read_parquet(path)
            self.hits.append(name)
        else:
            df = compute()
            self.misses.append(name)
            self._store(lambda: _frame_to_parquet(df, self._entry() / f"{name}.parquet"))
        self._memo[name] = df
        return df

    def arrays(self, name: str, compute: Callable[[], dict]) -> dict[str, np.ndarray]:
        """Named arrays ``name`` (an ``.npz`` file, no pickles): read, else computed and written."""
        if name in self._memo:
            return self._memo[name]
        path = self.path / f"{name}.npz"
        if self._valid() and path.exists():
            with np.load(path, allow_pickle=False) as z:
                out = {k: z[k] for k in z.files}
            self.hits.append(name)
        else:
            out = {k: np.asarray(v) for k, v in compute().items()}
            self.misses.append(name)

            def write():
                tmp = self._entry() / f".{name}.{uuid.uuid4().hex}.tmp.npz"
                np.savez(tmp, **out)
                os.replace(tmp, path)

            self._store(write)
        self._memo[name] = out
        return out

    def value(self, name: str, compute: Callable[[], object]):
        """A JSON value ``name`` (numbers, text, lists, dicts): read, else computed and written."""
        if name in self._memo:
            return self._memo[name]
        path = self.path / f"{name}.json"
        if self._valid() and path.exists():
            out = json.loads(path.read_text(encoding="utf-8"))
            self.hits.append(name)
        else:
            out = compute()
            self.misses.append(name)
            self._store(lambda: _write_text(self._entry() / f"{name}.json", json.dumps(out)))
        self._memo[name] = out
        return out

    def stored_liability(self, name: str, compute: Callable[[], object]):
        """A :class:`~rebatelab.finance.liability.Liability` (its tables and distributions).

        Stored as Parquet tables, the distributions' grids in one ``.npz`` and the options in
        JSON; read back equal to the one computed (tested), ``at_percentile`` included.
        """
        if name in self._memo:
            return self._memo[name]
        d = self.path / name
        if self._valid() and (d / "_done.json").exists():
            out = _read_liability(d)
            self.hits.append(name)
        else:
            out = compute()
            self.misses.append(name)
            self._store(lambda: _write_liability(out, self._entry() / name))
        self._memo[name] = out
        return out

    # -- the inputs themselves ---------------------------------------------------------------
    def data(self):
        """The loaded (and prepared) data: read from the folder, once, only when asked."""
        if self._data is None:
            from rebatelab.io.folders import load_data

            data = load_data(self.folder, **self.load_options)
            programs = self._programs_in
            if self.prepare is not None:
                data, programs = self.prepare(data, programs)
            self._data, self._programs = data, programs
        return self._data

    def programs(self):
        """The programs of the results (after ``prepare``)."""
        if self._reduction is not None:
            return self._reduction.programs
        if self.prepare is None:
            return self._programs_in
        return self.reduction().programs

    def reduction(self):
        """Stage one's :class:`~rebatelab.engine.stage_one.Reduction`: read, else reduced."""
        if self._reduction is not None:
            return self._reduction
        d = self.path / "reduction"
        if self._valid() and (d / "_done.json").exists():
            red = _read_reduction(d)
            self.hits.append("reduction")
        else:
            from rebatelab.engine.stage_one import reduce

            data = self.data()
            as_of = self.as_of if self.as_of is not None else data.date_range[1]
            red = reduce(data, self._programs, as_of)
            self.misses.append("reduction")
            self._store(lambda: _write_reduction(red, self._entry() / "reduction"))
        self._reduction = red
        return red

    def daily_rows(self, members, columns=None) -> pd.DataFrame:
        """The rows of the reduction's daily sums of some members, without reading them all.

        Parameters
        ----------
        members : array-like of int
            Member numbers (``Reduction.daily["member"]``, positions in ``members``).
        columns : list of str, optional
            Columns to read (default all).

        Returns
        -------
        DataFrame
            Those rows in stored order. When the reduction was read from the cache and its
            daily sums are not in memory, only the Parquet row groups that can hold these
            members are read (the file is sorted by member); otherwise a mask of the frame.
        """
        red = self.reduction()
        ids = np.unique(np.asarray(members, dtype=np.int64))
        unread = getattr(red, "stored_rows", None) is not None and vars(red).get(
            "daily") is _UNREAD  # fmt: skip
        if unread:
            import pyarrow.parquet as pq

            path = object.__getattribute__(red, "_stored_folder") / "daily.parquet"
            filters = [("member", "in", ids.tolist())] if len(ids) else None
            table = pq.read_table(path, columns=columns, filters=filters)
            out = table.to_pandas()
            if not len(ids):
                out = out.iloc[:0]
            return out.reset_index(drop=True)
        d = red.daily
        out = d[np.isin(d["member"].to_numpy(dtype=np.int64), ids)]
        return (out if columns is None else out[list(columns)]).reset_index(drop=True)

    # -- the results the dashboards share --------------------------------------------------
    def accrual(self) -> pd.DataFrame:
        """:func:`rebatelab.accrue` of the reduction."""
        from rebatelab.engine.accrual import accrue

        return self.frame("accrual", lambda: accrue(self.reduction()))

    def forecast(self, *, levels=None) -> pd.DataFrame:
        """:func:`rebatelab.forecast` of the reduction (with the cache's method)."""
        kw = {} if self.method is None else {"method": self.method}
        if levels is not None:
            kw["levels"] = np.asarray(levels, dtype=float)
        name = "forecast" if levels is None else "forecast-levels-" + hashlib.blake2b(
            np.asarray(levels, dtype=float).tobytes(), digest_size=6
        ).hexdigest()  # fmt: skip

        def run():  # the forecasting code (scipy) is imported on a miss only
            from rebatelab.forecasting.projection import forecast

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                return forecast(self.reduction(), **kw)

        return self.frame(name, run)

    def money_map(self) -> pd.DataFrame:
        """:func:`rebatelab.money_map` of the accrual and the forecast."""
        from rebatelab.review.moneymap import money_map

        return self.frame("money_map", lambda: money_map(
            self.accrual(), self.forecast(), programs=self.programs()))  # fmt: skip

    def review_lists(self, *, eligible: bool = True) -> dict:
        """The three review lists under the rules (:func:`rebatelab.review.worklist.ruled`).

        Parameters
        ----------
        eligible : bool
            Also the eligible-not-enrolled list (it forecasts every eligible customer not
            enrolled); None in the result otherwise.

        Returns
        -------
        dict of str -> DataFrame or None
            By :data:`~rebatelab.review.worklist.KINDS`, as
            :class:`~rebatelab.review.worklist.Worklists` takes them.
        """
        from rebatelab.review.worklist import KINDS, worklists

        built: dict = {}

        def both(kind):  # opportunities and risks are built together
            if not built:
                built.update(worklists(self.accrual(), self.forecast(), self.reduction(),
                                       eligible=False, method=self.method).lists)  # fmt: skip
            return built[kind]

        out = {k: self.frame(f"review-{k}", lambda k=k: both(k)) for k in KINDS[:2]}
        out["eligible"] = self.eligible_list() if eligible else None
        return out

    def eligible_list(self) -> pd.DataFrame:
        """The eligible-not-enrolled list under the review's rules."""
        from rebatelab.review.worklist import ruled

        def run():  # the forecasting code (scipy) is imported on a miss only
            from rebatelab.review.eligibility import eligible_not_enrolled

            red = self.reduction()
            kw = {} if self.method is None else {"method": self.method}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                rows = eligible_not_enrolled(red, sentences=False, **kw)
            return ruled("eligible", rows, red.programs, red.as_of, red.customers)

        return self.frame("review-eligible", run)

    def liability_forecast(self, *, n_levels: int = 16) -> pd.DataFrame:
        """The liability's forecast (:func:`rebatelab.finance.liability.liability_forecast`)."""
        from rebatelab.finance.distributions import liability_levels

        return self.forecast(levels=liability_levels(n_levels))

    def liability(self, options=None):
        """:func:`rebatelab.liability` of the cache's inputs at ``options`` (percentile aside).

        The distributions are stored once per (common shock, amount, grid, levels, nodes);
        another percentile is read from them
        (:meth:`~rebatelab.finance.liability.Liability.at_percentile`), equal to the
        liability computed at it.

        Parameters
        ----------
        options : LiabilityOptions, optional
            Default ``LiabilityOptions()``; its ``method`` must be the cache's.

        Returns
        -------
        Liability
        """
        from rebatelab.finance.liability import (
            LiabilityOptions,
            align_forecast,
            liability_from,
            settle_forecast,
        )

        opts = LiabilityOptions(method=self.method) if options is None else options
        if opts.method != self.method:
            raise ParameterError(
                f"options.method {opts.method!r} differs from the cache's {self.method!r}"
            )
        base = dataclasses.replace(opts, percentile=LiabilityOptions().percentile)
        name = (f"liability-shock={base.common_shock:g}-{base.amount}-grid={base.grid_size}"
                f"-levels={base.n_levels}-nodes={base.n_shock_nodes}")  # fmt: skip

        def run():
            acc = self.accrual()
            fc = settle_forecast(acc, align_forecast(acc, self.liability_forecast(
                n_levels=base.n_levels)))  # fmt: skip
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # the grid's note, in notes
                res = liability_from(acc, fc, programs=self.programs(), options=base)
            res.as_of = self.reduction().as_of
            return res

        res = self.stored_liability(name, run)
        return res if opts.percentile == base.percentile else res.at_percentile(opts.percentile)

    def currency(self) -> str:
        """The data's currency (:func:`rebatelab.money.data_currency`), stored as text."""
        from rebatelab.money import data_currency

        return self.value("currency", lambda: data_currency(self.data()))

    def currency_code(self) -> str:
        """The lines' single ``currency`` code, else ``""`` (a Reduction records no lines)."""

        def run():
            cur = self.data().transactions.get("currency")
            values = [] if cur is None else pd.unique(cur.dropna())
            return str(values[0]) if len(values) == 1 else ""

        return self.value("currency-code", run)

    # -- the program designer ---------------------------------------------------------------
    def as_of_day(self) -> pd.Timestamp:
        """The as-of day: the one given, else the last line's.

        The last line's day comes from the stored reduction when there is one (the lines
        are not loaded).
        """
        if self.as_of is not None:
            return self.as_of
        if self._reduction is not None or self.has("reduction"):
            return pd.Timestamp(self.reduction().as_of).normalize()
        return pd.Timestamp(self.data().date_range[1]).normalize()

    def designer_base(self):
        """The program designer's what-if base: read (arrays and layouts), else estimated.

        On a miss the base is estimated from the lines
        (:func:`rebatelab.simulation.whatif.whatif_base` at the cache's as-of day, default
        the last line's) and the members, pools, eligible shares and baselines of every
        program that is not a variant (what each what-if run of a design of it reads) are
        measured and stored with it; read back, the base gives the designer's results to
        the last bit (tested) without loading the lines.

        Returns
        -------
        rebatelab.simulation.base.WhatIfBase
            Read back, its ``data`` is a :class:`~rebatelab.data.tables.RebateData` whose
            ``enrollments`` are stored with the base and whose other tables are
            :meth:`data`'s, loaded (all at once, every table then the loaded one) the first
            time one is used: a program whose layout is not stored, or the forecast's
            figure, loads the lines then; the designs' runs do not.
        """
        if "designer-base" in self._memo:
            return self._memo["designer-base"]
        folder = self.path / "designer-base"
        base = None
        if self._valid() and (folder / "_done.json").exists():
            try:
                base = _read_designer_base(folder, self.folder, self.data)
                self.hits.append("designer-base")
            except (OSError, KeyError, ValueError):  # an incomplete entry: estimated again
                base = None
        if base is None:
            base = self._estimate_designer_base()
            self.misses.append("designer-base")
            self._store(lambda: _write_designer_base(base, self._entry() / "designer-base"))
        self._memo["designer-base"] = base
        return base

    def _estimate_designer_base(self):
        from rebatelab.simulation.compare import compare_designs, projected_basis
        from rebatelab.simulation.whatif import whatif_base

        data = self.data()
        base = whatif_base(data, as_of=self.as_of_day())
        layouts = {}
        for p in self.programs():
            if p.variant_of is not None:
                continue
            terms = {"tiers": [t.model_dump(by_alias=True, exclude_none=True) for t in p.tiers],
                     "method": p.method, "cap": p.cap or 0.0}  # fmt: skip
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                projected_basis(base, p)
                # one small run: the layouts its designs read (scenarios do not change them)
                compare_designs(base, p, {"design 1": terms}, n_scenarios=2)
            layouts.update({k: v for k, v in base.cache.items() if k[0] == "layouts"})
        base.cache.clear()
        base.cache.update(layouts)
        return base

    def designer_forecast(self, program_id: str) -> float:
        """The forecast's expected rebate of one program alone (the designer's comparison).

        :func:`rebatelab.forecast` of the program with its own enrollments at the cache's
        as-of day, summed; stored as JSON.
        """

        def run():
            from rebatelab.forecasting.projection import forecast
            from rebatelab.programs.terms import ProgramSet
            from rebatelab.simulation.base import _data_for

            one = ProgramSet.from_programs([self.programs()[program_id]], source="designer")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                fc = forecast(_data_for(self.data(), one), one, self.as_of_day())
            return float(fc["expected_rebate"].sum())

        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(program_id))
        return float(self.value(f"designer-forecast-{safe}", run))

    def precompute_designer(self) -> list[str]:
        """Fill what the program designer opens with; the names stored.

        Its what-if base, and on bases of up to :data:`DESIGNER_FORECAST_AT_START` customers
        the forecast's figure of every program that is not a variant (the designer shows it
        at start there; a program the forecast refuses, e.g. too little history, is left
        out and says why when opened).
        """
        from rebatelab.errors import RebateLabError

        base = self.designer_base()
        if base.n_customers <= DESIGNER_FORECAST_AT_START:
            for p in self.programs():
                if p.variant_of is None:
                    try:
                        self.designer_forecast(p.id)
                    except RebateLabError:
                        continue
        return [n for n in self.entries() if n.startswith("designer-")]

    def precompute(self, *, shocks=(0.0,), eligible: bool = True) -> list[str]:
        """Fill the cache with everything the three dashboards open with; the names stored.

        Parameters
        ----------
        shocks : iterable of float
            Common shocks whose liability is stored (each takes as long as the first).
        eligible : bool
            Also the eligible-not-enrolled list.
        """
        from rebatelab.finance.liability import LiabilityOptions

        self.reduction()
        self.currency()
        self.currency_code()
        self._data = None  # the lines are not needed any more: free them before forecasting
        self.accrual()
        self.forecast()
        self.money_map()
        self.review_lists(eligible=eligible)
        for shock in shocks:
            self.liability(LiabilityOptions(method=self.method, common_shock=float(shock)))
        return self.entries()


# --------------------------------------------------------------------------------------------
# The designer's what-if base as files
# --------------------------------------------------------------------------------------------
_FolderData = None


def _folder_data_type():
    """The RebateData subclass whose tables are loaded by a callable when first used."""
    global _FolderData
    if _FolderData is not None:
        return _FolderData
    from rebatelab.data.tables import RebateData

    class FolderData(RebateData):
        """A :class:`~rebatelab.data.tables.RebateData` whose lines are loaded when used.

        The data of a what-if base read back (:meth:`InputCache.designer_base`); once loaded
        it holds the loaded data's tables.
        """

        def __init__(self, *, loader=None, **fields):  # dataclasses.replace gives no loader
            super().__init__(**fields)
            object.__setattr__(self, "_loader", loader)

        def __getattribute__(self, name):
            value = object.__getattribute__(self, name)
            if value is _UNREAD:
                full = object.__getattribute__(self, "_loader")()
                for f in dataclasses.fields(full):
                    if f.name != "cache":  # every table, the stand-in enrollments too
                        object.__setattr__(self, f.name, getattr(full, f.name))
                value = object.__getattribute__(self, name)
            return value

    _FolderData = FolderData
    return FolderData


_BASE_ARRAYS = ("order_rate", "mean_order_value", "holding_cost")
_LAYOUT_ARRAYS = ("codes", "pool", "share", "units_per_value", "baseline")


def _write_designer_base(base, folder: Path) -> None:
    tmp = _new_folder(folder)
    arrays = {name: getattr(base, name) for name in _BASE_ARRAYS}
    layouts = []
    for key, lays in base.cache.items():
        if key[0] != "layouts":
            continue
        entry = {"programs": list(key[1]), "layouts": []}
        for lay in lays:  # a program set's programs: one or a few
            i = sum(len(e["layouts"]) for e in layouts) + len(entry["layouts"])
            for name in _LAYOUT_ARRAYS:
                arrays[f"{name}{i}"] = getattr(lay, name)
            entry["layouts"].append({"i": i, "program_idx": int(lay.program_idx),
                                     "n_pools": int(lay.n_pools)})  # fmt: skip
        layouts.append(entry)
    np.savez(tmp / "arrays.npz", **arrays)
    _frame_to_parquet(base.data.enrollments, tmp / "enrollments.parquet")
    meta = {"value_shape": float(base.value_shape),
            "reference": [int(base.reference[0]), int(base.reference[1])],
            "layouts": layouts}  # fmt: skip
    _finish_folder(tmp, folder, meta)


def _read_designer_base(folder: Path, source: Path, loader):
    import scipy.sparse as sp

    from rebatelab.simulation.base import WhatIfBase, _Layout

    meta = json.loads((folder / "_done.json").read_text(encoding="utf-8"))
    data = _folder_data_type()(
        transactions=_UNREAD, customers=_UNREAD, products=_UNREAD,
        enrollments=pd.read_parquet(folder / "enrollments.parquet"), payments=_UNREAD,
        source=str(source), loader=loader,
    )  # fmt: skip
    cache = {}
    with np.load(folder / "arrays.npz", allow_pickle=False) as z:
        base_arrays = {name: z[name] for name in _BASE_ARRAYS}
        for entry in meta["layouts"]:
            lays = []
            for m in entry["layouts"]:
                i = m["i"]
                codes, pool, share, upv, baseline = (z[f"{n}{i}"] for n in _LAYOUT_ARRAYS)
                k = len(codes)
                matrix = sp.csr_matrix((np.ones(k), (pool, np.arange(k))),
                                       shape=(m["n_pools"], k))  # fmt: skip
                lays.append(_Layout(m["program_idx"], codes, pool, m["n_pools"], matrix, share,
                                    upv, baseline))  # fmt: skip
            cache[("layouts", tuple(entry["programs"]))] = lays
    return WhatIfBase(data=data, value_shape=meta["value_shape"],
                      reference=tuple(meta["reference"]), cache=cache,
                      **base_arrays)  # fmt: skip


# --------------------------------------------------------------------------------------------
# A Liability as files
# --------------------------------------------------------------------------------------------
_LIABILITY_FRAMES = ("total", "by_program", "by_customer", "distribution", "notes")


def _write_liability(res, folder: Path) -> None:
    tmp = _new_folder(folder)
    for name in _LIABILITY_FRAMES:
        _frame_to_parquet(getattr(res, name), tmp / f"{name}.parquet")
    dists = {"": res.dist, **{f"program:{k}": v for k, v in res.program_dists.items()}}
    arrays, meta_d = {}, {}
    for i, (label, d) in enumerate(dists.items()):
        if d is None:
            continue
        arrays[f"pmf{i}"] = d.pmf
        meta_d[label] = {"i": i, "start": d.start, "step": d.step, "mean": d.mean,
                         "n_terms": int(d.n_terms)}  # fmt: skip
    np.savez(tmp / "dists.npz", **arrays)
    meta = {
        "options": dataclasses.asdict(res.options),
        "as_of": _stamp(res.as_of),
        "method": res.method,
        "dists": meta_d,
        "programs": list(res.program_dists),
    }
    _finish_folder(tmp, folder, meta)


def _read_liability(folder: Path):
    from rebatelab.finance.distributions import SumDistribution
    from rebatelab.finance.liability import Liability, LiabilityOptions

    meta = json.loads((folder / "_done.json").read_text(encoding="utf-8"))
    frames = {n: pd.read_parquet(folder / f"{n}.parquet") for n in _LIABILITY_FRAMES}
    with np.load(folder / "dists.npz", allow_pickle=False) as z:
        dists = {
            label: SumDistribution(m["start"], m["step"], z[f"pmf{m['i']}"], m["mean"],
                                   m["n_terms"])
            for label, m in meta["dists"].items()
        }  # fmt: skip
    return Liability(
        **frames,
        dist=dists.get(""),
        options=LiabilityOptions(**meta["options"]),
        as_of=None if meta["as_of"] is None else pd.Timestamp(meta["as_of"]),
        method=meta["method"],
        program_dists={pid: dists[f"program:{pid}"] for pid in meta["programs"]},
    )


# --------------------------------------------------------------------------------------------
# A Reduction as files
# --------------------------------------------------------------------------------------------
def _write_reduction(red, folder: Path) -> None:
    """One Parquet file per table, the rest (programs as YAML, days, source) in JSON."""
    tmp = _new_folder(folder)
    meta = {"frames": {}, "none": []}
    for f in dataclasses.fields(red):
        v = getattr(red, f.name)
        if isinstance(v, pd.DataFrame):
            opts = {"row_group_size": DAILY_ROW_GROUP} if f.name == "daily" else {}
            _frame_to_parquet(v, tmp / f"{f.name}.parquet", **opts)
            meta["frames"][f.name] = len(v)
        elif v is None:
            meta["none"].append(f.name)
    ps = red.programs
    meta.update(
        as_of=_stamp(red.as_of),
        first_date=_stamp(red.first_date),
        last_date=_stamp(red.last_date),
        source=str(red.source),
        programs=ps.to_yaml(),
        programs_source=str(ps.source),
        known_ids=sorted(ps.known_ids),
    )
    _finish_folder(tmp, folder, meta)


#: Bases of up to this many customers: the designer shows the forecast's figure at start.
DESIGNER_FORECAST_AT_START = 5_000

#: A table of a stored reduction not read yet.
_UNREAD = object()


def _stored_reduction_type():
    """The Reduction subclass whose tables are read from their Parquet files on first use."""
    global _StoredReduction
    if _StoredReduction is not None:
        return _StoredReduction
    from rebatelab.engine.stage_one import Reduction

    class StoredReduction(Reduction):
        """A :class:`~rebatelab.engine.stage_one.Reduction` read from the cache lazily.

        Each table is read from its Parquet file the first time it is used: a dashboard
        that draws from the daily sums does not read the candidates' (the largest files at
        50,000 customers, seconds to read). Otherwise it is the Reduction itself.
        """

        def __getattribute__(self, name):
            value = object.__getattribute__(self, name)
            if value is _UNREAD:
                folder = object.__getattribute__(self, "_stored_folder")
                value = pd.read_parquet(folder / f"{name}.parquet")
                object.__setattr__(self, name, value)  # a frozen dataclass: filled once
            return value

        def stored_rows(self, name: str) -> int | None:
            """Rows of table ``name`` as stored.

            None for a table stored as None, and for a copy not read from files (e.g. made
            by ``dataclasses.replace``).
            """
            try:
                rows = object.__getattribute__(self, "_stored_rows")
            except AttributeError:
                return None
            return rows.get(name)

    _StoredReduction = StoredReduction
    return StoredReduction


_StoredReduction = None


def _read_reduction(folder: Path):
    from rebatelab.programs.terms import ProgramSet, load_programs

    meta = json.loads((folder / "_done.json").read_text(encoding="utf-8"))
    ps = load_programs(meta["programs"])
    programs = ProgramSet(list(ps), source=meta["programs_source"], known_ids=meta["known_ids"])
    kw = {name: _UNREAD for name in meta["frames"]}  # read when first used
    kw.update({name: None for name in meta["none"]})

    def day(text):
        return pd.NaT if text is None else pd.Timestamp(text)

    red = _stored_reduction_type()(
        programs=programs,
        as_of=day(meta["as_of"]),
        first_date=day(meta["first_date"]),
        last_date=day(meta["last_date"]),
        source=meta["source"],
        **kw,
    )
    object.__setattr__(red, "_stored_folder", folder)
    object.__setattr__(red, "_stored_rows", dict(meta["frames"]))
    return red
