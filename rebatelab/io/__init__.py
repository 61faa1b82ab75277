"""Files: reading data folders (and simulated folders with their ground truth).

Public names (each also importable from the module in parentheses):

- ``load_data`` (folders): Load and validate a data folder
- ``read_table`` (folders): Read a CSV (every column as text, empty cells as missing) or Parquet
  file/folder
- ``find_table`` (folders): Path of a table in a data folder, or None; two candidates is an
  error
- ``load_simulated`` (simulated): Read a folder written by
  :func:`rebatelab.simulation.generator.write_data_folder`
- ``SimulatedFolder`` (simulated): A simulated data folder read back: the validated tables and
  the ground truth

Names are imported on first use (:mod:`rebatelab._lazy`).
"""

from rebatelab._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(
    __name__,
    {
        "rebatelab.io.folders": ["load_data", "read_table", "find_table"],
        "rebatelab.io.simulated": ["load_simulated", "SimulatedFolder"],
    },
)
