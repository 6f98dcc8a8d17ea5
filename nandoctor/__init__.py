"""nandoctor: reads the logs a failed training run left behind and says why it failed.

The Python API mirrors the CLI: `nandoctor.analyze(paths, **options)` returns one `Diagnosis` per run.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__", "analyze"]


def analyze(paths, **options):
    """Diagnose every run under `paths` (a path or a list of them); the same diagnoses as `nandoctor analyze`.

    Options: select, ignore (rule ids, slugs or family prefixes), min_confidence (0..1), rule_params.
    """
    from .api import run_analysis

    return run_analysis(paths, **options).diagnoses
