"""The house rules of README.md's "Where things are", checked on the imports themselves."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

# Package -> the project packages its modules may import (besides itself and the stdlib).
ALLOWED = {
    "keypoints": set(),
    "transforms": {"keypoints"},
    "pipeline.usage": set(),
    "pipeline.drawing": {"keypoints"},
    "pipeline.records": {"transforms", "keypoints"},
    "pipeline.job": {"pipeline.usage", "pipeline.records", "transforms", "keypoints"},
    "pipeline.tools": {
        "pipeline.usage",
        "pipeline.job.options",
        "pipeline.records",
        "pipeline.drawing",
        "transforms",
        "keypoints",
    },
    "pipeline.local": {"pipeline.usage", "pipeline.job", "transforms", "keypoints"},
    "pipeline.flink": {"pipeline.usage", "pipeline.job", "keypoints"},
}
PROJECT = ("keypoints", "transforms", "pipeline")


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            # `from pipeline.records import reports` imports pipeline.records.reports, while
            # `from pipeline.job.options import X` imports pipeline.job.options
            found |= {
                node.module
                if (REPO / node.module.replace(".", "/")).with_suffix(".py").exists()
                else f"{node.module}.{alias.name}"
                for alias in node.names
            }
    return found


def package_of(module: str) -> str | None:
    owners = [p for p in ALLOWED if module == p or module.startswith(p + ".")]
    return max(owners, key=len) if owners else None


def within(name: str, packages: set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_every_import_goes_down_the_layers_and_keypoints_is_beam_free():
    broken = []
    for path in sorted(REPO.glob("[ktp]*/**/*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts)
        owner = package_of(module)
        if owner is None:
            continue  # pipeline/cli.py, __main__ and __init__: the composition root
        for name in imports(path):
            if not name.startswith(PROJECT) and not name.startswith("apache_beam"):
                continue
            if owner == "keypoints" and name.startswith("apache_beam"):
                broken.append(f"{module} imports {name}: keypoints/ must not import Beam")
            elif name.startswith(PROJECT) and not within(name, {owner} | ALLOWED[owner]):
                broken.append(f"{module} imports {name}")
    assert not broken, "\n".join(broken)


def test_only_the_file_module_calls_beams_file_systems():
    callers = sorted(
        str(path.relative_to(REPO))
        for package in PROJECT
        for path in (REPO / package).rglob("*.py")
        if "FileSystems." in path.read_text()
    )
    assert callers == ["transforms/files.py"]


def test_a_local_run_starts_its_zygote_before_it_imports_beam():
    """The launcher runs first, so that MediaPipe loads in the zygote while Beam loads here
    (pipeline/cli.py); a heavy import in its closure would delay the zygote."""
    heavy = ("apache_beam", "mediapipe", "cv2", "numpy")
    probe = (
        "import sys; from pipeline.local import launcher; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy!r}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"
