"""One exception hierarchy, rooted in ``ValueError``.

Every error a user can cause by their input derives from :class:`RebateLabError`; the CLI
turns these into one clear message and exit status 2.
"""

from __future__ import annotations

__all__ = [
    "RebateLabError",
    "DataValidationError",
    "ProgramFileError",
    "ParameterError",
    "LedgerError",
]


class RebateLabError(ValueError):
    """Base class of every input error raised by rebatelab."""


class DataValidationError(RebateLabError):
    """A data-folder file is missing, malformed or inconsistent."""


class ProgramFileError(RebateLabError):
    """A program file (YAML) is invalid; the message names the program id and the field."""


class ParameterError(RebateLabError):
    """A function or CLI parameter is outside its allowed values."""


class LedgerError(RebateLabError):
    """A ledger operation was refused (e.g. closing a period twice)."""
