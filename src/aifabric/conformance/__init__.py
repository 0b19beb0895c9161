"""The conformance suite: language-neutral vectors run against an implementation, ending in a report.

Vector files (``conformance/vectors/<area>/*.json``) are plain data in the conformance-vector schema; this
module runs them against the aifabric SDK itself and returns a conformance report document.

Examples:
    >>> from aifabric.conformance import run_vectors
    >>> report = run_vectors()
    >>> report.summary.outcome
    'passed'
"""

from aifabric.conformance._vectors import VectorFileError, default_vectors_dir, load_vector_file, run_vectors

__all__ = ["VectorFileError", "default_vectors_dir", "load_vector_file", "run_vectors"]
