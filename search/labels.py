"""Human labels for facet values: country names from Babel, codes from pycountry."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import pycountry
from babel import Locale


@lru_cache(maxsize=1)
def _english_names() -> dict[str, str]:
    return {code: name for code, name in Locale("en").territories.items() if len(code) == 2}


@lru_cache(maxsize=1)
def country_codes() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 code (plus XK, Kosovo, which briefings name)."""
    return frozenset(c.alpha_2 for c in pycountry.countries) | {"XK"}


def country_label(code: str) -> str:
    """English short name for an alpha-2 code ("VE" → "Venezuela"), the code itself if unknown."""
    return _english_names().get(code.upper(), code)


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


@lru_cache(maxsize=1)
def _names_to_codes() -> dict[str, str]:
    mapping: dict[str, str] = {}
    codes = country_codes()
    for locale in ("es", "en"):
        for code, name in Locale(locale).territories.items():
            if code in codes:
                mapping[_fold(name)] = code
    for country in pycountry.countries:
        for attr in ("name", "common_name", "official_name", "alpha_3"):
            value = getattr(country, attr, None)
            if value:
                mapping.setdefault(_fold(value), country.alpha_2)
    return mapping


def resolve_country(value: str) -> str | None:
    """Alpha-2 code for a code or an English/Spanish name ("ec", "Ecuador", "México"); else None."""
    if len(value) == 2 and value.upper() in country_codes():
        return value.upper()
    return _names_to_codes().get(_fold(value))
