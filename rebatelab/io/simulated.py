"""Reading a simulated data folder: its tables and its ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

from rebatelab.data.tables import RebateData
from rebatelab.io.folders import load_data
from rebatelab.simulation.generator import TRUTH_DIR, Truth, read_truth

__all__ = ["SimulatedFolder", "load_simulated"]


class SimulatedFolder(NamedTuple):
    """A simulated data folder read back: the validated tables and the ground truth."""

    data: RebateData  #: the four tables, as :func:`rebatelab.io.folders.load_data` reads them
    truth: Truth | None  #: ``truth/`` (:func:`rebatelab.simulation.generator.read_truth`)


def load_simulated(folder, *, require_truth: bool = True) -> SimulatedFolder:
    """Read a folder written by :func:`rebatelab.simulation.generator.write_data_folder`.

    Parameters
    ----------
    folder : str or Path
        The data folder, with ``truth/simulation.json``.
    require_truth : bool
        Raise when the folder has no ``truth/``; with False an ordinary data folder gives
        ``truth=None``.

    Returns
    -------
    SimulatedFolder
        ``(data, truth)``: pass both to :func:`rebatelab.simulation.whatif.whatif_base`
        (``whatif_base(data, truth=truth)``) for a base with the true parameters.

    Raises
    ------
    ParameterError
        No ground truth in the folder (and ``require_truth``).

    Examples
    --------
    >>> import tempfile
    >>> from rebatelab.simulation.generator import simulate_data, write_data_folder
    >>> sim = simulate_data(20, start="2025-01-01", end="2025-03-31", seed=1, programs=None)
    >>> folder = write_data_folder(sim, tempfile.mkdtemp() + "/sim")
    >>> data, truth = load_simulated(folder)
    >>> len(data.customers), len(truth.customers)
    (20, 20)
    """
    folder = Path(folder)
    data = load_data(folder)
    if not require_truth and not (folder / TRUTH_DIR / "simulation.json").exists():
        return SimulatedFolder(data, None)
    return SimulatedFolder(data, read_truth(folder))
