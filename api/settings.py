"""The service's settings, as the API sees them: one module (search/settings.py) owns them all."""

from __future__ import annotations

from search.settings import SETTINGS, Setting, SettingError, load_settings, markdown_table

__all__ = ["SETTINGS", "Setting", "SettingError", "load_settings", "markdown_table"]
