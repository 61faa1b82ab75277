"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package lists the names it re-exports and the module each comes from, once: its ``__all__``
is that list. A name's module is imported the first time the name is used, so
``import rebatelab`` stays light (no pandas reduction code, no scipy, no matplotlib until a
function needs them).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, exports: Mapping[str, Sequence[str]], *, subpackages: Sequence[str] = ()
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """Module ``__getattr__``, ``__dir__`` and ``__all__`` for lazily re-exported names.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping of str to sequence of str
        Module path -> names re-exported from it, in the order of ``__all__``.
    subpackages : sequence of str, optional
        Subpackages imported on first attribute access (``rebatelab.engine`` after a bare
        ``import rebatelab``); they are not part of ``__all__``.

    Returns
    -------
    getattr, dir : callable
        Assign them to the package's ``__getattr__`` and ``__dir__``.
    all : list of str
        The re-exported names, in the order given (assign it to the package's ``__all__``, so
        the names are written once).

    Raises
    ------
    ValueError
        If a name is listed twice.

    Examples
    --------
    >>> import sys, types
    >>> sys.modules["toy"] = types.ModuleType("toy")
    >>> get, _, names = lazy_exports("toy", {"math": ["sqrt"]})
    >>> names, get("sqrt")(9.0), sys.modules["toy"].sqrt(16.0)
    (['sqrt'], 3.0, 4.0)
    >>> lazy_exports("toy", {"math": ["sqrt"], "cmath": ["sqrt"]})
    Traceback (most recent call last):
    ...
    ValueError: toy: 'sqrt' is listed twice (math, cmath)
    >>> del sys.modules["toy"]
    """
    where: dict[str, str] = {}
    for module, names in exports.items():
        for name in names:
            if where.setdefault(name, module) != module or list(names).count(name) > 1:
                raise ValueError(f"{package}: {name!r} is listed twice ({where[name]}, {module})")
    rooms = frozenset(subpackages)

    def __getattr__(name: str) -> Any:
        if name in rooms:
            return importlib.import_module(f"{package}.{name}")  # the import sets the attribute
        try:
            module = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where) | rooms)

    return __getattr__, __dir__, list(where)
