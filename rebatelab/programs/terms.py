"""Program terms: the YAML program file, its validation, variants, and the `Program` object.

A `Program` only holds terms and calls the tier functions of :mod:`rebatelab.tiers`; it adds
no algorithm of its own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rebatelab.errors import ProgramFileError
from rebatelab.programs import tiers as _tiers

__all__ = [
    "Tier",
    "Growth",
    "Guardrails",
    "Approval",
    "Program",
    "ProgramSet",
    "load_programs",
    "parse_yaml",
]


Filter = dict[str, list[Any]]


def _listify(value):
    """Filter values may be written as a scalar or a list; store lists of strings."""
    if value is None:
        return value
    if not isinstance(value, Mapping):
        raise ValueError("must be a mapping of attribute -> list of allowed values")
    return {
        str(k): [str(x) for x in (v if isinstance(v, list | tuple) else [v])]
        for k, v in value.items()
    }


class Tier(BaseModel):
    """One tier: a lower bound and either a rate or a lump sum."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    from_: float = Field(
        alias="from", ge=0, description="lower bound [basis unit, or growth fraction]"
    )
    rate: float = Field(0.0, ge=0, le=1, description="rate [fraction, not %]")
    amount: float | None = Field(
        None, ge=0, description="lump sum for reaching the tier [currency]"
    )


class Growth(BaseModel):
    """Growth terms: thresholds are growth fractions over a baseline (0.10 = +10%)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rebate_on: Literal["total", "excess"] = "total"


class Guardrails(BaseModel):
    """Limits a negotiated variant must respect."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_rate: float | None = Field(None, ge=0, le=1)
    min_from_ratio: float | None = Field(None, ge=0)


class Approval(BaseModel):
    """Who decides on change requests to a program (:mod:`rebatelab.programs.changes`).

    ``required: false`` approves a request that passes the checks at once; ``approvers``
    (user names) restricts who may approve or reject; without it anyone but the proposer may.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    required: bool = True
    approvers: tuple[str, ...] | None = None

    @field_validator("approvers", mode="before")
    @classmethod
    def _names(cls, v):
        if v is None:
            return v
        names = tuple(str(x).strip() for x in (v if isinstance(v, list | tuple) else [v]))
        if not names or any(not x for x in names):
            raise ValueError("list at least one user name (or leave the key out)")
        return names


class Program(BaseModel):
    """Terms of one rebate program for one measurement period.

    Attributes follow the program file (see README). Dates are inclusive at both ends.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str | None = None
    start: dt.date
    end: dt.date
    basis: Literal["net_sales", "quantity"] = "net_sales"
    method: Literal["retroactive", "incremental"] = "retroactive"
    tiers: tuple[Tier, ...]
    products: Filter | None = None
    exclude_products: Filter | None = None
    customers: Filter | None = None
    enrollment: Literal["required", "automatic"] = "required"
    pool: Literal["customer", "buying_group"] = "customer"
    cap: float | None = Field(None, ge=0, description="[currency] per customer or pool and period")
    min_payout: float | None = Field(None, ge=0, description="[currency]")
    growth: Growth | None = None
    guardrails: Guardrails | None = None
    approval: Approval | None = None
    variant_of: str | None = None
    customers_only: tuple[str, ...] | None = None

    _filters = field_validator("products", "exclude_products", "customers", mode="before")(
        classmethod(lambda cls, v: _listify(v))
    )

    @field_validator("customers_only", mode="before")
    @classmethod
    def _ids(cls, v):
        if v is None:
            return v
        return tuple(str(x) for x in (v if isinstance(v, list | tuple) else [v]))

    @model_validator(mode="after")
    def _check(self):
        if self.end < self.start:
            raise ValueError(f"end: {self.end} is before start {self.start}")
        if not self.tiers:
            raise ValueError("tiers: at least one tier is required")
        t = [x.from_ for x in self.tiers]
        if any(b <= a for a, b in zip(t, t[1:], strict=False)):
            raise ValueError(f"tiers: thresholds must be strictly ascending, got {t}")
        if self.method == "incremental" and any(x.amount is not None for x in self.tiers):
            raise ValueError("tiers: a lump-sum 'amount' tier needs method: retroactive")
        if (
            self.growth is not None
            and self.growth.rebate_on == "excess"
            and (self.method != "retroactive")
        ):
            raise ValueError("growth: rebate_on: excess needs method: retroactive")
        if self.variant_of is not None and not self.customers_only:
            raise ValueError("customers_only: a variant must list its customers")
        if self.variant_of is None and self.customers_only is not None:
            raise ValueError("customers_only: only a variant (variant_of) may set it")
        return self

    # -- terms as arrays -------------------------------------------------------------------
    @property
    def thresholds(self) -> np.ndarray:
        """Tier lower bounds [basis unit, or growth fraction for growth programs]."""
        return np.array([t.from_ for t in self.tiers], dtype=float)

    @property
    def rates(self) -> np.ndarray:
        """Tier rates [fraction]."""
        return np.array([t.rate for t in self.tiers], dtype=float)

    @property
    def amounts(self) -> np.ndarray:
        """Tier lump sums [currency] (0 where none)."""
        return np.array([t.amount or 0.0 for t in self.tiers], dtype=float)

    @property
    def is_growth(self) -> bool:
        """True when thresholds are growth fractions over a baseline."""
        return self.growth is not None

    def basis_thresholds(self, baseline=None) -> np.ndarray:
        """Thresholds in basis units, shape (K,) or (n, K) for growth programs.

        Parameters
        ----------
        baseline : array_like, optional
            Baseline basis per row [basis unit]; required for growth programs. Rows without a
            usable baseline (NaN or <= 0) get ``+inf`` thresholds: no tier can be reached.
        """
        if not self.is_growth:
            return self.thresholds
        return _tiers.growth_thresholds(baseline, fractions=self.thresholds)

    def earned(self, basis, *, baseline=None, capped: bool = True):
        """Earned rebate [currency] for a basis (and a baseline, for growth programs).

        Calls :func:`rebatelab.programs.tiers.earned` with the program's schedule, then the cap.
        Unrounded; pool sharing and rounding to cents happen in :mod:`rebatelab.engine.accrual`.

        Examples
        --------
        >>> p = Program(id="X", start="2025-01-01", end="2025-12-31",
        ...             tiers=[{"from": 100_000, "rate": 0.01}, {"from": 200_000, "rate": 0.02}])
        >>> p.earned(250_000)
        5000.0
        """
        base = None
        if self.growth is not None and self.growth.rebate_on == "excess":
            base = _tiers.excess_over(basis, baseline=baseline)
        out = _tiers.earned(
            basis,
            thresholds=self.basis_thresholds(baseline),
            rates=self.rates,
            amounts=self.amounts,
            method=self.method,
            rebate_base=base,
        )
        return _tiers.apply_cap(out, cap=self.cap) if capped else out

    def days(self) -> int:
        """Length of the measurement period [days], both ends inclusive."""
        return (self.end - self.start).days + 1


class ProgramSet:
    """An ordered, validated collection of programs with variants resolved.

    Iterating yields :class:`Program` objects; ``programs["ID"]`` looks one up.
    """

    def __init__(self, programs: list[Program], *, source: str = "<programs>", known_ids=None):
        self._programs = list(programs)
        self._by_id = {p.id: p for p in self._programs}
        self.source = source
        #: Ids of the whole program file this set was taken from: enrollments may name these.
        self.known_ids = frozenset(self._by_id) | frozenset(known_ids or ())

    def subset(self, ids) -> ProgramSet:
        """The programs ``ids`` (in file order), remembering the whole file's ids."""
        keep = set(ids)
        missing = keep - set(self._by_id)
        if missing:
            raise ProgramFileError(f"{self.source}: unknown program ids {sorted(missing)[:5]}")
        return ProgramSet(
            [p for p in self._programs if p.id in keep],
            source=self.source,
            known_ids=self.known_ids,
        )

    def __iter__(self) -> Iterator[Program]:
        return iter(self._programs)

    def __len__(self) -> int:
        return len(self._programs)

    def __getitem__(self, program_id: str) -> Program:
        try:
            return self._by_id[program_id]
        except KeyError:
            raise ProgramFileError(
                f"{self.source}: unknown program id {program_id!r}; known: {list(self._by_id)[:10]}"
            ) from None

    def __contains__(self, program_id) -> bool:
        return program_id in self._by_id

    def __repr__(self) -> str:
        return f"ProgramSet({[p.id for p in self._programs]})"

    @property
    def ids(self) -> list[str]:
        """Program ids in file order."""
        return list(self._by_id)

    def variants_of(self, program_id: str) -> list[Program]:
        """The variants whose parent is ``program_id``."""
        return [p for p in self._programs if p.variant_of == program_id]

    def to_yaml(self) -> str:
        """The program file text for these programs (variants written resolved)."""
        out = []
        for p in self._programs:
            d = p.model_dump(mode="json", by_alias=True, exclude_none=True)
            d["tiers"] = [t.model_dump(by_alias=True, exclude_none=True) for t in p.tiers]
            out.append(d)
        return yaml.safe_dump({"programs": out}, sort_keys=False)

    @classmethod
    def from_programs(cls, programs, *, source: str = "<programs>") -> ProgramSet:
        """Validate a list of :class:`Program` objects or dicts as one set."""
        raw = [
            p.model_dump(by_alias=True, exclude_none=True) if isinstance(p, Program) else p
            for p in programs
        ]
        return _build(raw, source=source)


def _field_of(err: Mapping) -> str:
    loc = [str(x) for x in err.get("loc", ())]
    return ".".join(loc) if loc else "(program)"


def _validate_one(raw: dict, source: str) -> Program:
    pid = raw.get("id", "<no id>")
    try:
        return Program.model_validate(raw)
    except ValidationError as exc:
        msgs = []
        for e in exc.errors():
            field = _field_of(e)
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                msg = f"unknown key {field!r}"
            if not e.get("loc"):  # model-level checks already start with "<field>: "
                msgs.append(f"field {msg}")
            else:
                msgs.append(f"field {field}: {msg}")
        raise ProgramFileError(f"{source}: program {pid}: " + "; ".join(msgs)) from None


def _check_guardrails(variant: Program, parent: Program, source: str) -> None:
    g = parent.guardrails
    if g is None:
        return
    where = f"{source}: program {variant.id} (variant of {parent.id})"
    if g.max_rate is not None:
        too_high = [t.rate for t in variant.tiers if t.rate > g.max_rate]
        if too_high:
            raise ProgramFileError(
                f"{where}: field tiers: rate {too_high[0]} breaks guardrail max_rate={g.max_rate}"
            )
    if g.min_from_ratio is not None:
        for k, (vt, pt) in enumerate(zip(variant.tiers, parent.tiers, strict=False), start=1):
            floor = g.min_from_ratio * pt.from_
            if vt.from_ < floor - 1e-9:
                raise ProgramFileError(
                    f"{where}: field tiers: tier {k} threshold {vt.from_:g} is below "
                    f"guardrail min_from_ratio={g.min_from_ratio} x parent's {pt.from_:g} "
                    f"= {floor:g}"
                )


def _build(raw_programs: list, *, source: str) -> ProgramSet:
    if not isinstance(raw_programs, list):
        raise ProgramFileError(f"{source}: 'programs' must be a list")
    raws: dict[str, dict] = {}
    for i, r in enumerate(raw_programs):
        if not isinstance(r, Mapping):
            raise ProgramFileError(f"{source}: programs[{i}] must be a mapping")
        pid = r.get("id")
        if pid is None:
            raise ProgramFileError(f"{source}: programs[{i}]: field id: missing")
        pid = str(pid)
        if pid in raws:
            raise ProgramFileError(f"{source}: program {pid}: field id: duplicate id")
        raws[pid] = {**r, "id": pid}
    out: list[Program] = []
    for pid, r in raws.items():
        parent_id = r.get("variant_of")
        if parent_id is not None:
            parent_raw = raws.get(str(parent_id))
            if parent_raw is None:
                raise ProgramFileError(
                    f"{source}: program {pid}: field variant_of: unknown program {parent_id!r}"
                )
            if parent_raw.get("variant_of") is not None:
                raise ProgramFileError(
                    f"{source}: program {pid}: field variant_of: {parent_id} is itself a variant"
                )
            inherited = {k: v for k, v in parent_raw.items() if k not in ("id", "name")}
            inherited.pop("guardrails", None)
            r = {**inherited, **r}
        out.append(_validate_one(r, source))
    by_id = {p.id: p for p in out}
    for p in out:
        if p.variant_of is not None:
            _check_guardrails(p, by_id[p.variant_of], source)
    return ProgramSet(out, source=source)


#: Most YAML nodes a program file may expand to (aliases included): far above any real file
#: (the sample has about 400), far below what an alias bomb needs to exhaust memory.
MAX_YAML_NODES = 100_000


class _Loader(yaml.SafeLoader):
    """Safe YAML loader whose dates name their line when they are impossible."""

    source_name = "<programs>"

    def construct_yaml_timestamp(self, node):
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError as exc:
            raise ProgramFileError(
                f"{self.source_name}: line {node.start_mark.line + 1}: {node.value!r} is not a "
                f"valid date ({exc})"
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _expanded_size(node, memo: dict) -> int:
    """Number of nodes ``node`` expands to, aliases counted each time they are used."""
    key = id(node)
    if key not in memo:
        memo[key] = 1  # a recursive alias counts once; the constructor rejects it anyway
        if isinstance(node, yaml.SequenceNode):
            memo[key] = 1 + sum(_expanded_size(c, memo) for c in node.value)
        elif isinstance(node, yaml.MappingNode):
            memo[key] = 1 + sum(
                _expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value
            )
    return memo[key]


def _duplicate_keys(node, name: str, program: str | None, seen: set) -> None:
    """Refuse a mapping that repeats a key, naming the key, its line and the program."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, yaml.SequenceNode):
        for item in node.value:
            pid = program
            if program is None and isinstance(item, yaml.MappingNode):
                ids = [v.value for k, v in item.value if k.value == "id" and hasattr(v, "value")]
                pid = str(ids[0]) if ids and isinstance(ids[0], str) else program
            _duplicate_keys(item, name, pid, seen)
    elif isinstance(node, yaml.MappingNode):
        keys: dict = {}
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                if k.value in keys:
                    where = f"program {program}: " if program else ""
                    a, b = keys[k.value] + 1, k.start_mark.line + 1
                    lines = f"line {a}" if a == b else f"lines {a} and {b}"
                    raise ProgramFileError(
                        f"{name}: {where}duplicate key {k.value!r} ({lines}); write each key once"
                    )
                keys[k.value] = k.start_mark.line
            _duplicate_keys(v, name, program, seen)


def parse_yaml(text: str, *, source: str = "<programs>"):
    r"""Parse program-file YAML safely: no duplicate keys, bounded alias expansion.

    Parameters
    ----------
    text : str
        The YAML text.
    source : str
        Where it came from, for messages.

    Returns
    -------
    object
        The parsed document (plain dicts, lists, strings, numbers, dates).

    Raises
    ------
    ProgramFileError
        Not valid YAML; a mapping that repeats a key (YAML would keep the last one silently);
        aliases expanding to more than :data:`MAX_YAML_NODES` nodes; an impossible date.

    Examples
    --------
    >>> parse_yaml("a: 1\nb: [x, y]")
    {'a': 1, 'b': ['x', 'y']}
    >>> parse_yaml("a: 1\na: 2")
    Traceback (most recent call last):
    ...
    rebatelab.errors.ProgramFileError: <programs>: duplicate key 'a' (lines 1 and 2); ...
    """
    loader = _Loader(text)
    loader.source_name = source
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > MAX_YAML_NODES:
            raise ProgramFileError(
                f"{source}: YAML aliases expand to {size:,} values (more than "
                f"{MAX_YAML_NODES:,}); refusing to build it"
            )
        _duplicate_keys(node, source, None, set())
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ProgramFileError(f"{source}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ProgramFileError(f"{source}: YAML nested too deeply or recursive") from None
    finally:
        loader.dispose()


def load_programs(source) -> ProgramSet:
    """Load and validate a program file.

    Parameters
    ----------
    source : str, Path, ProgramSet or list
        Path to a YAML file with a top-level ``programs:`` list, YAML text, an existing
        :class:`ProgramSet` (returned as is), or a list of program dicts.

    Returns
    -------
    ProgramSet

    Raises
    ------
    ProgramFileError
        On unknown keys, thresholds not ascending, rates outside [0, 1], amount tiers with
        incremental, end before start, duplicate ids, a variant of an unknown program, or a
        variant breaking its parent's guardrails; a duplicate key, an impossible date, a file
        that is not UTF-8 text, a folder, an empty ``programs:`` list, aliases expanding beyond
        :data:`MAX_YAML_NODES`. The message names the program and field (or the line).
    """
    if isinstance(source, ProgramSet):
        return source
    if isinstance(source, list):
        return _build(source, source="<programs>")
    text, name = None, "<programs>"
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source):
        path = Path(source)
        if not path.exists():
            raise ProgramFileError(f"program file not found: {path}")
        if path.is_dir():
            raise ProgramFileError(f"{path}: is a folder; expected a YAML program file")
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProgramFileError(
                f"{path}: not UTF-8 text (byte {exc.start}: "
                f"{exc.object[exc.start : exc.start + 1]!r}); save the program file as UTF-8"
            ) from None
        name = str(path)
    else:
        text = source
    doc = parse_yaml(text, source=name)
    if not isinstance(doc, Mapping) or "programs" not in doc:
        raise ProgramFileError(f"{name}: expected a top-level 'programs:' list")
    extra = set(doc) - {"programs"}
    if extra:
        raise ProgramFileError(f"{name}: unknown top-level keys {sorted(extra)}")
    if isinstance(doc["programs"], list) and not doc["programs"]:
        raise ProgramFileError(f"{name}: 'programs:' lists no program")
    return _build(doc["programs"], source=name)
