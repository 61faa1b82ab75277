"""The audit record of a close: what it was computed from and what it found."""

from __future__ import annotations

import hashlib
from pathlib import Path

from rebatelab.engine.stage_one import Reduction

__all__: list[str] = []


def _file_hash(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _audit(
    red: Reduction, *, method, book, forecaster, snap, pay, rf, flags, meta, changes, known_at
) -> dict:
    """What a close was computed from and what it found (one record per close)."""
    try:
        from importlib.metadata import version

        ver = version("rebatelab")
    except Exception:  # noqa: BLE001 - a source checkout without metadata
        ver = "unknown"
    audit = {
        "workspace_id": meta.get("workspace_id", ""),
        "schema_version": meta.get("schema_version", ""),
        "rebatelab_version": ver,
        "as_of": str(red.as_of.date()),
        "book": book,
        "forecast_method": ";".join(sorted(set(snap["method"].astype(str)))),
        "forecast_parameters": "default forecaster (liability_forecast, n_levels=16)"
        if forecaster is None
        else f"forecaster {getattr(forecaster, '__name__', repr(forecaster))}",
        "method_requested": method or "(default)",
        "data_source": red.source,
        "programs_source": getattr(red.programs, "source", ""),
        "booked_total": f"{int(snap['booked_c'].sum()) / 100:.2f}",
        "payments_total": f"{int(pay['amount_c'].sum()) / 100 if len(pay) else 0:.2f}",
        "closing_total": f"{int(rf['closing_c'].sum()) / 100:.2f}",
        "accepted_flags": str(len(flags)),
        "changes_known_at": known_at.isoformat(timespec="microseconds"),
        "changes_in_force": ",".join(str(int(i)) for i in changes["request_id"]) or "(none)",
        "program_versions": "; ".join(
            f"#{int(r.request_id)} {r.kind} {r.program_id} from {r.effective}"
            for r in changes.itertuples()
        )
        or "(program file only)",
    }
    src = Path(str(red.source))
    if src.is_dir():
        for f in sorted(src.iterdir()):
            if f.is_file() and not f.name.endswith((".duckdb", ".wal", ".tmp")):
                audit[f"sha256:{f.name}"] = _file_hash(f)
    prog = Path(str(getattr(red.programs, "source", "")))
    if prog.is_file():
        audit["sha256:programs"] = _file_hash(prog)
    return audit
