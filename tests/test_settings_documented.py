"""Every BRIEFING_* setting is documented in the README's one settings table, and only those.

Regenerate the table with `python -c 'from api.settings import *; print(markdown_table())'`.
"""

from __future__ import annotations

import re
from pathlib import Path

from api.settings import SETTINGS, markdown_table

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# A table row whose first cell is a BRIEFING_* name, with or without backticks.
_ROW = re.compile(r"^\|\s*`?(BRIEFING_[A-Z0-9_]+)`?\s*\|")
# Where code reads settings from the environment (tests and their helpers are not the service).
_CODE_DIRS = ("api", "index", "search", "bench", "deploy")
_ENV_NAME = re.compile(r"\bBRIEFING_[A-Z][A-Z0-9_]*\b")


def documented() -> list[str]:
    """BRIEFING_* names in the README's settings table, in order."""
    text = README.read_text(encoding="utf-8") if README.exists() else ""
    return [m.group(1) for line in text.splitlines() if (m := _ROW.match(line.strip()))]


def test_every_setting_is_in_the_readme_table() -> None:
    names = documented()
    expected = {s.env for s in SETTINGS}
    missing = sorted(expected - set(names))
    assert not missing, (
        f"README.md's settings table lacks {missing}; the full table is:\n{markdown_table()}"
    )


def test_readme_table_lists_only_real_settings_once() -> None:
    names = documented()
    expected = {s.env for s in SETTINGS}
    assert not sorted(set(names) - expected), "README.md documents settings that do not exist"
    assert len(names) == len(set(names)), "a setting appears twice in README.md"


def test_every_briefing_variable_in_the_code_is_a_setting() -> None:
    known = {s.env for s in SETTINGS}
    used: dict[str, set[str]] = {}
    for folder in _CODE_DIRS:
        for path in (ROOT / folder).rglob("*"):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix in {".pyc"}:
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            for name in _ENV_NAME.findall(text):
                used.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    unknown = {name: sorted(paths) for name, paths in used.items() if name not in known}
    assert not unknown, f"BRIEFING_* variables read without a Setting in api/settings.py: {unknown}"


def test_settings_have_unique_names_and_help() -> None:
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    assert all(s.help.strip() for s in SETTINGS)
