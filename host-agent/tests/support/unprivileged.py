"""Running Python code as the unprivileged user 'nobody', wherever the checkout and the venv lie.

A clone often lies under a folder only its owner can enter (``mktemp -d`` makes one with mode
0700, and CI's folder is not ours to choose), so 'nobody' could not import the project from it.
The child gets a world-readable copy of what it imports instead: this project's packages and the
installed ones (not the standard library), found by importing the same modules here first. It
runs the real code, only from another folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

NOBODY = 65534
HOST_AGENT = Path(__file__).resolve().parents[2]

#: Prints the folders (or single-file modules) of the non-standard top-level packages that
#: importing the modules named on the command line loads.
FIND_PACKAGES = r"""
import importlib, json, sys, sysconfig
from pathlib import Path
stdlib = Path(sysconfig.get_path("stdlib"))  # not "platstdlib": a venv's holds its site-packages
before = set(sys.modules)
for name in sys.argv[1:]:
    importlib.import_module(name)
tops = {name.partition(".")[0] for name in set(sys.modules) - before} - set(sys.stdlib_module_names)
locations = set()
for top in sorted(tops):
    module = sys.modules.get(top)
    file = getattr(module, "__file__", None)
    if file:
        path = Path(file)
        if stdlib not in path.parents:
            locations.add(str(path.parent if path.name.startswith("__init__.") else path))
    else:  # a namespace package
        locations.update(getattr(module, "__path__", []))
print(json.dumps(sorted(locations)))
"""

PROBE = "import asyncio, sqlite3, sys; print('%d.%d' % sys.version_info[:2])"


def as_nobody(*command: str) -> list[str]:
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]


def copy_imports(modules: Sequence[str], into: Path) -> None:
    """Copy every package that importing ``modules`` loads into ``into``, readable by everyone."""
    found = subprocess.run(
        [sys.executable, "-c", FIND_PACKAGES, *modules], capture_output=True, text=True, cwd=HOST_AGENT, timeout=60
    )
    assert found.returncode == 0, found.stderr
    into.mkdir(parents=True, exist_ok=True)
    for location in map(Path, json.loads(found.stdout)):
        if location.is_dir():
            shutil.copytree(location, into / location.name, dirs_exist_ok=True)
        else:
            shutil.copy2(location, into / location.name)
    for path in (into, *into.rglob("*")):
        path.chmod(path.stat().st_mode | (0o555 if path.is_dir() else 0o444))


def interpreter_for_nobody(env: dict[str, str]) -> str:
    """This Python (same version, for the compiled packages), at a path 'nobody' can run; else skip."""
    version = "%d.%d" % sys.version_info[:2]
    candidates = dict.fromkeys(
        [sys.executable, os.path.realpath(sys.executable), os.path.join(sys.base_prefix, "bin", f"python{version}")]
    )
    tried = []
    for candidate in candidates:
        probe = subprocess.run(as_nobody(candidate, "-c", PROBE), capture_output=True, text=True, env=env, timeout=60)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return candidate
        tried.append(f"{candidate}: {(probe.stderr or probe.stdout).strip() or probe.returncode}")
    pytest.skip(f"'nobody' cannot run Python {version} here; tried {'; '.join(tried)}")


def run_as_nobody(code: str, *args: str, imports: Sequence[str], workdir: Path, timeout: float = 60):
    """Run ``python -c CODE ARGS`` as 'nobody' with a copy of ``imports`` in ``workdir``/python.

    ``workdir`` must be a folder 'nobody' can enter; the child runs there. Skips (with the reason)
    when this process is not root or ``setpriv`` is missing.
    """
    if os.geteuid() != 0:
        pytest.skip("needs root, to run a child as 'nobody' (setpriv --reuid)")
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv (util-linux), to run a child as 'nobody'")
    packages = workdir / "python"
    copy_imports(imports, packages)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env |= {"PYTHONPATH": str(packages), "PYTHONNOUSERSITE": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    python = interpreter_for_nobody(env)
    return subprocess.run(
        as_nobody(python, "-c", code, *args), capture_output=True, text=True, env=env, timeout=timeout, cwd=workdir
    )
