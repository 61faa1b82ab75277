"""The workspace of record: period closes, payments and the roll-forward ledger in a DuckDB file.

Public names (each also importable from the module in parentheses):

- ``ledger`` (close): What a workspace has recorded: closes, roll-forward (with tie checks),
  snapshots
- ``replay``, ``Replay`` (close): a closed period recomputed as it was closed (the change
  requests decided by its close time), compared with what it recorded
- ``period_end`` (close): Last day of a ``"YYYY-MM"`` period
- ``Close`` (close): What one close recorded
- ``LedgerView`` (close): Everything recorded in a workspace
- ``BOOKS`` (close)
- ``default_workspace`` (store): ``rebatelab.duckdb`` beside the data folder (inside it)
- ``propose``, ``approve``, ``reject``, ``history``, ``apply_workspace``, ``discover``
  (changes): governed change requests, decisions and program versions on record

Not re-exported here, because a module of this room has the same name: ``close``
(:func:`rebatelab.close`).

Names are imported on first use (:mod:`rebatelab._lazy`).
"""

from rebatelab._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "rebatelab.workspace.close": [
            "ledger",
            "replay",
            "period_end",
            "Close",
            "LedgerView",
            "Replay",
            "BOOKS",
        ],
        "rebatelab.workspace.store": ["default_workspace"],
        "rebatelab.workspace.changes": [
            "propose",
            "approve",
            "reject",
            "history",
            "apply_workspace",
            "discover",
        ],
    },
)
