"""The workspace of record: period closes, payments and the roll-forward ledger in a DuckDB file.

Public names (each also importable from the module in parentheses):

- ``ledger`` (ledger_view): What a workspace has recorded: closes, roll-forward (with tie
  checks), snapshots
- ``LedgerView`` (ledger_view): Everything recorded in a workspace
- ``replay``, ``Replay`` (reproduce): a closed period recomputed as it was closed (the change
  requests decided by its close time), compared with what it recorded
- ``period_end`` (snapshot): Last day of a ``"YYYY-MM"`` period
- ``BOOKS`` (snapshot): what the ledger can book per contract
- ``Close`` (close): What one close recorded
- ``default_workspace`` (store): ``rebatelab.duckdb`` beside the data folder (inside it)
- ``propose``, ``approve``, ``reject``, ``history``, ``apply_workspace``, ``discover``
  (changes): governed change requests, decisions and program versions on record

Not re-exported here, because a module of this room has the same name: ``close``
(:func:`rebatelab.close`). Every name above is also importable from
:mod:`rebatelab.workspace.close`. The close's other parts: ``payments`` (payment identities,
new payments, flags) and ``audit`` (the audit record).

Names are imported on first use (:mod:`rebatelab._lazy`).
"""

from rebatelab._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "rebatelab.workspace.ledger_view": ["ledger", "LedgerView"],
        "rebatelab.workspace.reproduce": ["replay", "Replay"],
        "rebatelab.workspace.snapshot": ["period_end", "BOOKS"],
        "rebatelab.workspace.close": ["Close"],
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
