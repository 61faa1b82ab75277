"""Governed changes in the workspace: requests, decisions and program versions on record.

One import for the whole workflow; the code lives in three modules:

- :mod:`rebatelab.workspace.requests`: :func:`propose`, :func:`approve`, :func:`reject`,
  :func:`requests`, :func:`history`, :func:`check` (a proposal's guardrail result, not
  recorded), :func:`current_user` (the request and decision tables);
- :mod:`rebatelab.workspace.versions`: :func:`apply_workspace` (only approved terms accrue),
  :func:`in_force`, :func:`versions`, :func:`diff`;
- :mod:`rebatelab.workspace.discovery`: :func:`discover` (eligible, enrolled, pending).

Identity: there is no login. The user name is what the caller says (``--user``, or the
environment's ``REBATELAB_USER`` / ``USER``); it is recorded and the separation of proposer
and approver is enforced on it. This is an audit trail, not access control: a deployment
would add authentication and a roles table.
"""

from rebatelab.workspace.discovery import discover
from rebatelab.workspace.requests import (
    SYSTEM,
    approve,
    check,
    current_user,
    history,
    propose,
    reject,
    requests,
)
from rebatelab.workspace.versions import apply_workspace, diff, in_force, versions

__all__ = [
    "propose",
    "approve",
    "reject",
    "history",
    "requests",
    "versions",
    "diff",
    "apply_workspace",
    "in_force",
    "discover",
    "check",
    "current_user",
    "SYSTEM",
]
