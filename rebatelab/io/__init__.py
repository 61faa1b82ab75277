"""Files: reading data folders and program files.

Public names (each also importable from the module in parentheses):

- ``load_data`` (folders): Load and validate a data folder
- ``read_table`` (folders): Read a CSV (every column as text, empty cells as missing) or Parquet
  file/folder
- ``find_table`` (folders): Path of a table in a data folder, or None; two candidates is an
  error

Names are imported on first use (:mod:`rebatelab._lazy`).
"""

from rebatelab._lazy import lazy_exports

__all__ = [
    "load_data",
    "read_table",
    "find_table",
]

__getattr__, __dir__, _LAZY = lazy_exports(
    __name__,
    {
        "rebatelab.io.folders": ["load_data", "read_table", "find_table"],
    },
)
