"""docs/architecture.md names only files and functions that exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DOC = (ROOT / "docs" / "architecture.md").read_text()


def test_every_file_and_folder_it_names_exists() -> None:
    paths = set(re.findall(r"\b((?:healthscore|devtools|dashboards|streams|scoring|schemas)"
                           r"/[\w/.]*)", DOC))  # fmt: skip
    assert len(paths) > 15
    missing = sorted(p for p in paths if not (ROOT / p.rstrip(".")).exists())
    assert missing == []


def test_every_function_or_class_named_beside_its_module_is_defined_there() -> None:
    pairs = re.findall(r"\(`([\w/]+\.py)`, `([\w.]+)`\)", DOC)
    pairs += re.findall(r'"([\w/]+\.py)<br/>(\w[\w.]*)(?=[:"])', DOC)
    assert len(pairs) > 8
    undefined = []
    for path, dotted in pairs:
        text = (ROOT / path).read_text()
        for name in dotted.split("."):
            if not re.search(rf"^\s*(?:async def|def|class) {name}\b", text, re.M):
                undefined.append(f"{path}: {name}")
    assert undefined == []
