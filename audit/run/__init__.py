"""Probe runs: suite -> images -> labels -> results, in a frozen, resumable run directory.

Public API: :func:`audit.run.api.run_probe`, :class:`audit.run.api.Run`,
:func:`audit.run.api.open_run`. Torch, diffusers and dask are imported only by
the functions that use them.
"""

from audit.run.api import Run, open_run, run_probe

__all__ = ["Run", "open_run", "run_probe"]
