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


def test_one_rule_for_blank_boolean_and_numeric_values() -> None:
    from search.settings import SettingError, load_settings

    env = {"BRIEFING_WATCH": "OFF", "BRIEFING_PORT": " ", "BRIEFING_PRELOAD": "Yes"}
    values = load_settings(environ=env)
    assert (values["WATCH"], values["PORT"], values["PRELOAD"]) == (False, 8000, True)
    for bad in ({"BRIEFING_WATCH": "maybe"}, {"BRIEFING_WORKERS": "two"}):
        try:
            load_settings(environ=bad)
        except SettingError as exc:
            assert next(iter(bad)) in str(exc)
        else:
            raise AssertionError(f"{bad} was accepted")


def test_settings_are_read_by_the_one_module_only() -> None:
    """The watcher, the gunicorn config and the API read BRIEFING_* through search/settings.py."""
    offenders = []
    for folder in ("api", "index", "search", "deploy"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            if path.name != "settings.py" and (
                'environ.get("BRIEFING_' in text or "getenv(" in text
            ):
                offenders.append(str(path.relative_to(ROOT)))
    assert not offenders, offenders
