"""``PROMETHEUS_MULTIPROC_DIR`` for one run of the product's processes.

prometheus_client's multiprocess mode (``core.metrics``) needs a directory
that every process of one run shares, set before they start, and empty at
the start: files left by an earlier run would add their counts to this
one's. ``dev.py run``, the tests' live stack and the benchmarks take it from
here; the image's entrypoint does the same in shell. Free of Django imports
(the runner imports it).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV_NAME = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def metrics_dir(given: str | None = None) -> Iterator[str]:
    """The run's directory: ``given`` (the variable as the user set it),
    emptied of earlier files and kept afterwards; else a new temporary
    directory, removed afterwards."""
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()
        yield str(path)
        return
    made = tempfile.mkdtemp(prefix="ticketing-metrics-")
    try:
        yield made
    finally:
        shutil.rmtree(made, ignore_errors=True)
