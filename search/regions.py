"""Regions: UN M49 sub-regions and analysts' groupings, from `regions.json` (which names its source).

A text, passage or document is in a region when any of its countries is. Region ids are lowercase
and hyphenated (`central-america`, `northern-triangle`, `eu`); the file is checked when loaded and
a bad entry (malformed or duplicate id, unknown country code, empty region) raises at once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

REGIONS_FILE = Path(__file__).parent / "regions.json"

_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_KINDS = frozenset({"m49", "grouping"})


@dataclass(frozen=True)
class Region:
    """One region: id, display label, where it comes from (m49 or grouping), member countries."""

    id: str
    label: str
    kind: str
    countries: frozenset[str]


def load_regions(path: Path = REGIONS_FILE) -> dict[str, Region]:
    """Read and check the regions file; raise ValueError naming the bad entry."""
    import pycountry

    known = {c.alpha_2 for c in pycountry.countries}
    data = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, Region] = {}
    for i, entry in enumerate(data.get("regions", [])):
        where = f"{path.name}: region #{i}"
        rid = entry.get("id")
        if not isinstance(rid, str) or not _ID.fullmatch(rid):
            raise ValueError(f"{where}: id {rid!r} must be lowercase words joined by hyphens")
        if rid in out:
            raise ValueError(f"{where}: duplicate id {rid!r}")
        label = entry.get("label")
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"{where} ({rid}): missing label")
        kind = entry.get("kind")
        if kind not in _KINDS:
            raise ValueError(f"{where} ({rid}): kind must be one of {sorted(_KINDS)}")
        codes = entry.get("countries")
        if not isinstance(codes, list) or not codes:
            raise ValueError(f"{where} ({rid}): countries must be a non-empty list")
        unknown = sorted(set(codes) - known)
        if unknown:
            raise ValueError(f"{where} ({rid}): unknown country codes {unknown}")
        if len(set(codes)) != len(codes):
            raise ValueError(f"{where} ({rid}): a country is listed twice")
        out[rid] = Region(rid, label, kind, frozenset(codes))
    if not out:
        raise ValueError(f"{path}: no regions")
    return out


@lru_cache(maxsize=1)
def regions() -> dict[str, Region]:
    """Every region by id, in file order, loaded once per process."""
    return load_regions()


def region_ids() -> list[str]:
    """Every region id, in file order."""
    return list(regions())


def is_region(region_id: str) -> bool:
    """Whether region_id names a known region (for validating a region= filter)."""
    return region_id in regions()


def region_label(region_id: str) -> str:
    """The display label of a region; KeyError for an unknown id."""
    try:
        return regions()[region_id].label
    except KeyError:
        raise KeyError(f"unknown region {region_id!r}") from None


def region_countries(region_id: str) -> frozenset[str]:
    """The member countries of a region; KeyError for an unknown id."""
    try:
        return regions()[region_id].countries
    except KeyError:
        raise KeyError(f"unknown region {region_id!r}") from None


def regions_for(countries: Iterable[str]) -> list[str]:
    """The ids of every region any of the countries is in, in file order."""
    codes = set(countries)
    if not codes:
        return []
    return [rid for rid, region in regions().items() if region.countries & codes]
