"""Experiments: scene × method grids (the PROJET study) and catalogue separation on Dask.

- :mod:`.runner` — runs independent tasks in this process, on a local Dask cluster or on an
  existing one (``tcp://HOST:PORT``), writing each task's result as it finishes so that a rerun
  skips what is done; a failing task is recorded, the others go on
- :mod:`.study` — the study's design (scenes × methods → tasks), the task a worker runs (read a
  scene, separate, score), ``results.csv`` and ``study.json``
- :mod:`.summary` — medians per method × condition, gaps to the oracles, ``summary.md``
- :mod:`.figures` — box plots per metric and condition, median SDR against angular spacing
- :mod:`.batch` — ``shotoku separate`` over many files on the same runner

Dask (``pip install 'shotoku[study]'``) is imported only when a cluster is asked for.
"""
