"""Other engines for the one step that touches invoice lines: lines -> per (program, customer) sums.

- :mod:`rebatelab.backends.duckdb`: SQL streaming over in-memory transactions or Parquet
  files larger than memory (``load_data(folder, lines="lazy")``), with a memory limit.
- :mod:`rebatelab.backends.dask`: the in-memory reduction run on each partition of a Dask
  DataFrame through ``dask.distributed`` (a local or a real cluster).

Both return exactly what :func:`rebatelab.period_sums` returns (sums rounded to 1e-6, so the
same to the cent), and are selected with ``backend=`` in :func:`rebatelab.accrue` and
:func:`rebatelab.period_sums`. Their dependencies (``duckdb``; ``dask[distributed]``) are
imported only when a backend is used.
"""
