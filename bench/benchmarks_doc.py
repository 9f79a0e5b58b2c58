"""Writing one benchmark's section of ``docs/benchmarks.md``, leaving the others as they are."""

from __future__ import annotations

from pathlib import Path


def replace_section(path: Path, heading: str, text: str) -> None:
    """Replace the section starting at ``heading`` (up to the next '## ' heading), or append it."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else ["# Benchmarks", ""]
    start = next((i for i, line in enumerate(lines) if line.strip() == heading), None)
    if start is None:
        new = lines + ([""] if lines and lines[-1] else []) + text.splitlines()
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        new = lines[:start] + text.splitlines() + ([""] if end < len(lines) else []) + lines[end:]
    path.write_text("\n".join(new).rstrip("\n") + "\n", encoding="utf-8")
