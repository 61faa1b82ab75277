"""What the dashboards open with: a data folder's cache, with the workspace's approved terms.

:func:`dashboard_cache` names the :class:`~rebatelab.io.cache.InputCache` of a data folder
under the terms in force: the program file plus the approved change requests of the
workspace in force on the as-of day (as ``rebatelab close``, ``review`` and ``liability``
apply them). The requests in force are part of the cache's key, so an approval opens
another entry. ``rebatelab precompute`` and the views' ``from_folder`` share it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd

__all__ = ["dashboard_cache"]


def dashboard_cache(
    folder,
    programs=None,
    as_of=None,
    *,
    method=None,
    workspace=None,
    apply_changes: bool = True,
    cache_dir=None,
    check: str = "content",
    load_options: dict | None = None,
):
    """The cache of a data folder's results under the terms in force.

    Parameters
    ----------
    folder : str or Path
        The data folder.
    programs : ProgramSet or path, optional
        Default ``programs.yaml`` in the folder.
    as_of : date-like, optional
        Default the last transaction date.
    method : str, optional
        Forecast method; None: the forecast's default.
    workspace : str or Path, optional
        The workspace whose approved change requests apply (default ``rebatelab.duckdb`` in
        the folder; none when it does not exist).
    apply_changes : bool
        Apply them (default True); False: the program file's terms alone.
    cache_dir : str or Path, optional
        Where the cache lives (default ``folder / ".rebatelab-cache"``).
    check : {"content", "stat"}
        How the files are told apart (:func:`rebatelab.io.cache.input_fingerprint`).
    load_options : dict, optional
        Keyword arguments of :func:`rebatelab.load_data` (e.g. ``date_format``).

    Returns
    -------
    (InputCache, str)
        The cache and the terms in words ("program file + approved requests #3, #5").
    """
    from rebatelab.io.cache import InputCache
    from rebatelab.workspace.store import WORKSPACE_NAME
    from rebatelab.workspace.versions import apply_workspace, in_force

    ws = Path(workspace) if workspace is not None else Path(folder) / WORKSPACE_NAME
    prepare, extra, terms = None, None, "program file"
    if apply_changes and ws.exists():
        # without an as-of day, every approved request (the key only needs to change with them)
        day = pd.Timestamp(as_of) if as_of is not None else pd.Timestamp.max.normalize()
        used = in_force(ws, day)
        if len(used):
            digest = hashlib.blake2b(used.to_csv(index=False).encode("utf-8"), digest_size=12)
            extra = {"requests in force": digest.hexdigest()}
            terms += " + approved requests " + ", ".join(f"#{i}" for i in used["request_id"])

            def prepare(data, progs):
                return apply_workspace(data, progs, ws, as_of if as_of is not None
                                       else data.date_range[1])  # fmt: skip

    cache = InputCache(folder, programs, as_of=as_of, method=method, cache_dir=cache_dir,
                       prepare=prepare, extra_key=extra, check=check,
                       load_options=load_options)  # fmt: skip
    return cache, terms
