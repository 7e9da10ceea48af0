"""Cold start: how long a fresh interpreter takes to import each handler with the layer, and the layer's size.

The import runs in a new interpreter each time (nothing cached in memory; the OS file cache is warm, as on a
Lambda host that has run the function before), with only the layer and the function folder on the path, as
in Lambda; the median of several runs is reported. The layer is the `sam build` output when present, else
the layer's requirements installed for Lambda's platform (arm64, CPython 3.13, wheels only) plus the
`connector` package, which is what `sam build` puts in it.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from sandbox.handlers import ROOT

LAYER_SOURCE = ROOT / "layers" / "common"
SAM_LAYER = ROOT / ".aws-sam" / "build" / "CommonLayer"

_IMPORT = """
import importlib.util, sys, time
started = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(time.perf_counter() - started)
"""


def import_seconds(function: str, runs: int = 5) -> float:
    """Median time to import functions/<function>/app.py in a fresh interpreter."""
    app = ROOT / "functions" / function / "app.py"
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": f"{LAYER_SOURCE}{os.pathsep}{app.parent}",
        "PYTHONDONTWRITEBYTECODE": "1",
        "POWERTOOLS_SERVICE_NAME": "connector",
        "POWERTOOLS_METRICS_NAMESPACE": "FastmagLeNewBlack",
        "AWS_DEFAULT_REGION": "eu-west-3",
    }
    times = []
    for _ in range(runs):
        answer = subprocess.run(
            [sys.executable, "-c", _IMPORT, str(app)],
            capture_output=True,
            text=True,
            env=environment,
            check=True,
            timeout=120,
        )
        times.append(float(answer.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def _size(path: Path) -> int:
    return sum(file.stat().st_size for file in path.rglob("*") if file.is_file() and not file.is_symlink())


def _zipped_size(path: Path) -> int:
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(path.rglob("*")):
                if file.is_file() and "__pycache__" not in file.parts:
                    archive.write(file, file.relative_to(path))
        return handle.tell()


def layer_size() -> dict[str, object]:
    """Unzipped and zipped size (MB) of the built layer, and how it was obtained."""
    if SAM_LAYER.is_dir():
        return _describe(SAM_LAYER, "sam build output (.aws-sam/build/CommonLayer)")
    with tempfile.TemporaryDirectory(prefix="layer-") as scratch:
        target = Path(scratch) / "python"
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
            str(target),
            "--platform",
            "manylinux2014_aarch64",
            "--implementation",
            "cp",
            "--python-version",
            "3.13",
            "--only-binary=:all:",
            "-r",
            str(LAYER_SOURCE / "requirements.txt"),
        ]
        answer = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
        if answer.returncode != 0:
            return {"source": "not measured: pip could not install the layer", "error": answer.stderr[-500:]}
        shutil.copytree(LAYER_SOURCE / "connector", target / "connector", ignore=shutil.ignore_patterns("__pycache__"))
        return _describe(Path(scratch), "requirements for manylinux2014_aarch64 / CPython 3.13 + connector")


def _describe(path: Path, source: str) -> dict[str, object]:
    return {
        "source": source,
        "unzipped_mb": round(_size(path) / 2**20, 2),
        "zipped_mb": round(_zipped_size(path) / 2**20, 2),
    }
