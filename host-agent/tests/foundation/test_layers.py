"""The layer table of ARCHITECTURE.md, enforced: every import of the agent's own modules points
down (or stays in its layer), collectors know nothing of the sync, and only the entry layer and
the config loader read the environment."""

from __future__ import annotations

import ast
from pathlib import Path

import host_agent
import pytest

PACKAGE = Path(host_agent.__file__).parent
ARCHITECTURE = PACKAGE.parents[1] / "ARCHITECTURE.md"

#: (layer, module prefixes), top first; the same rows as ARCHITECTURE.md's table.
LAYERS = [
    ("entry", ("host_agent.cli", "host_agent.__main__", "host_agent.logging_setup",
               "host_agent.collectors.linux_x11_monitor", "host_agent.testing")),
    ("agent", ("host_agent.agent",)),
    ("ops", ("host_agent.ops",)),
    ("collectors", ("host_agent.collectors",)),
    ("sync", ("host_agent.sync", "host_agent.common.data_sync")),
    ("store", ("host_agent.store", "host_agent.common.database")),
    ("core", ("host_agent.core", "host_agent.common", "host_agent")),
]  # fmt: skip
RANK = {name: i for i, (name, _) in enumerate(LAYERS)}
#: Imports that would point down but are ruled out all the same.
FORBIDDEN = {("collectors", "sync"): "collectors know nothing of the sync engine"}
#: Modules below the entry that may read the environment: the config loader (called once, by the entry).
ENVIRONMENT_READERS = {"host_agent.core.config"}


def layer_of(module: str) -> str:
    best = max(
        ((name, prefix) for name, prefixes in LAYERS for prefix in prefixes
         if module == prefix or module.startswith(prefix + ".")),
        key=lambda found: len(found[1]),
    )  # fmt: skip
    return best[0]


def modules() -> dict[str, ast.Module]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return found


def imports_of(name: str, tree: ast.Module) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                base = ".".join(name.split(".")[: -node.level] + [node.module])
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {m for m in found if m.startswith("host_agent")}


MODULES = modules()


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_point_down_the_layer_table(name):
    here = layer_of(name)
    wrong = []
    for imported in imports_of(name, MODULES[name]):
        if imported not in MODULES and imported.rsplit(".", 1)[0] in MODULES:
            imported = imported.rsplit(".", 1)[0]  # "from package import name": the package
        if imported not in MODULES:
            continue
        there = layer_of(imported)
        if RANK[there] < RANK[here]:
            wrong.append(f"{imported} ({there}) is above {here}")
        elif (here, there) in FORBIDDEN:
            wrong.append(f"{imported}: {FORBIDDEN[here, there]}")
    assert not wrong, f"{name}: " + "; ".join(wrong)


@pytest.mark.parametrize("name", sorted(n for n in MODULES if RANK[layer_of(n)] > RANK["ops"]))
def test_only_the_entry_layer_and_the_config_loader_read_the_environment(name):
    if name in ENVIRONMENT_READERS:
        return
    source = ast.unparse(MODULES[name])
    assert "os.environ" not in source and "getenv(" not in source, f"{name} reads the environment"


def test_every_layer_of_the_table_is_in_architecture_md_and_every_folder_in_the_table():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    for folder in ("ops/", "collectors/desktop/", "collectors/files/", "sync/", "store/", "core/", "common/"):
        assert f"`{folder}" in text, f"ARCHITECTURE.md does not name {folder}"
    folders = {p.relative_to(PACKAGE).as_posix() + "/" for p in PACKAGE.rglob("*") if p.is_dir() and p.name != "__pycache__"}
    for folder in folders:
        assert f"`{folder}" in text, f"the folder {folder} is not in ARCHITECTURE.md's layer table"
