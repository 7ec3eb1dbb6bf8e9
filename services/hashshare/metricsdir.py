"""The folder where several worker processes keep their metrics (prometheus-client's
multiprocess mode). It must be named before prometheus-client is imported, so this module
imports nothing of it."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir() -> Path:
    """Before workers start: an empty folder for their values, named in the environment."""
    configured = os.environ.get(MULTIPROCESS_DIR)
    if configured:
        folder = Path(configured)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):  # values of a previous run's processes
            stale.unlink()
    else:
        folder = Path(tempfile.mkdtemp(prefix="hashshare-metrics-"))
        os.environ[MULTIPROCESS_DIR] = str(folder)
    return folder


def remove_multiprocess_dir(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
