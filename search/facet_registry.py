"""Every facet declared once: the engine, query aliases, API schemas, CLI and page all read this.

A facet is a way to filter and count passages by a value: the countries a passage concerns, its
topics, its document's source, its year. Adding one is one `Facet(...)` here (or in a registry
passed to the engine and the app) plus, for a new tag, the values the indexer gives it: the
Whoosh field, its encoding, the `/api/search` parameter, the response bucket list, the
`query_info`-visible query alias and the CLI option all follow from the declaration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from search.labels import country_codes, country_label, resolve_country

# How a facet's values are held: a list of tags per passage, one metadata value per document,
# or the year of the document's date.
TAGS = "tags"
VALUE = "value"
YEAR = "year"

ValueLabel = Callable[[str], str]
# (document, passage) as the indexer built them → this facet's values for the passage. Typed
# loosely on purpose: search/ never imports index/, it only reads attributes.
Extractor = Callable[[Any, Any], list[str]]


def _same(value: str) -> str | None:
    return value


def _country(value: str) -> str | None:
    code = value.strip().upper()
    return code if code in country_codes() else None


def _region(value: str) -> str | None:
    from search.regions import is_region

    region = value.strip().lower()
    return region if is_region(region) else None


def _region_label(value: str) -> str:
    from search.regions import is_region, region_label

    return region_label(value) if is_region(value) else value


def _region_ids() -> list[str]:
    from search.regions import region_ids

    return sorted(region_ids())


def _regions_of(doc: Any, passage: Any) -> list[str]:
    from search.regions import regions_for

    return regions_for(passage.countries)


@dataclass(frozen=True)
class Facet:
    """One facet: its API name, filter parameter, index field, labels and validation."""

    # Key in `facets`, `facets_truncated` and `/api/facets` ("country").
    name: str
    # Human name of the facet, for the page's group heading ("Countries").
    title: str
    kind: str = TAGS
    # Whoosh field holding the values (a KEYWORD for tags, an ID for a value); None for YEAR.
    field: str | None = None
    # Key of the values on a passage record (`countries`); tags only.
    record_key: str | None = None
    # `/api/search` and CLI parameter filtering on the facet; None when it has none of its own.
    param: str | None = None
    # Query-syntax field (`country:EC`) and the index field it searches.
    query_alias: str | None = None
    query_field: str | None = None
    # A canonical value for what a client sent, or None when it is no value of this facet.
    normalize: Callable[[str], str | None] = _same
    # What "unknown" values are called in a 422 ("country code").
    value_noun: str = "value"
    # Resolves a query-syntax value ("ecuador" → "EC"); None leaves the text as typed.
    resolve_query_value: Callable[[str], str | None] | None = None
    # Label of a value in buckets.
    label: ValueLabel = str
    # Values for a passage at indexing time (tags only).
    extract: Extractor | None = None
    description: str = ""
    # Every value the filter parameter accepts, for the spec's enum (None: open-ended values).
    spec_values: Callable[[], list[str]] | None = None

    @property
    def multi(self) -> bool:
        """True when a passage can have several values."""
        return self.kind == TAGS


@dataclass(frozen=True)
class FacetRegistry:
    """An ordered set of facets, looked up by name or parameter."""

    facets: tuple[Facet, ...]
    _by_name: dict[str, Facet] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, Facet] = {}
        params: set[str] = set()
        for facet in self.facets:
            if facet.name in by_name:
                raise ValueError(f"facet '{facet.name}' declared twice")
            if facet.kind == TAGS and not (facet.field and facet.record_key and facet.extract):
                raise ValueError(f"tag facet '{facet.name}' needs field, record_key and extract")
            if facet.param:
                if facet.param in params:
                    raise ValueError(f"facet parameter '{facet.param}' declared twice")
                params.add(facet.param)
            by_name[facet.name] = facet
        object.__setattr__(self, "_by_name", by_name)

    def __iter__(self) -> Iterator[Facet]:
        return iter(self.facets)

    def __getitem__(self, name: str) -> Facet:
        return self._by_name[name]

    def names(self) -> list[str]:
        """Facet names in declaration order."""
        return [f.name for f in self.facets]

    def filters(self) -> list[Facet]:
        """Facets that have a filter parameter of their own."""
        return [f for f in self.facets if f.param]

    def tags(self) -> list[Facet]:
        """Facets whose values are tag lists stored per passage."""
        return [f for f in self.facets if f.kind == TAGS]

    def query_aliases(self) -> dict[str, str]:
        """Query-syntax field name → index field, for every facet that has one."""
        return {f.query_alias: f.query_field or f.field or "" for f in self.facets if f.query_alias}

    def with_facets(self, *extra: Facet) -> FacetRegistry:
        """This registry plus more facets (a deployment's or a test's own)."""
        return FacetRegistry(self.facets + tuple(extra))

    def with_labels(self, labels: dict[str, ValueLabel]) -> FacetRegistry:
        """This registry with value labels replaced for the named facets (e.g. topic names)."""
        facets = []
        for facet in self.facets:
            if facet.name in labels:
                facet = replace(facet, label=labels[facet.name])
            facets.append(facet)
        return FacetRegistry(tuple(facets))


def unknown_values(facet: Facet, values: Iterable[str]) -> list[str]:
    """The values a client sent that are no value of facet."""
    return [v for v in values if facet.normalize(v) is None]


def default_registry() -> FacetRegistry:
    """The service's facets: countries (mentioned and about), regions, topics, source, year."""
    return FacetRegistry(
        (
            Facet(
                name="subject_countries",
                title="About",
                field="subject_countries",
                record_key="subject_countries",
                param="subject_country",
                query_alias="about",
                normalize=_country,
                value_noun="country code",
                resolve_query_value=resolve_country,
                label=country_label,
                # The document's subjects, strongest first, on every passage of the document.
                extract=lambda doc, passage: list(getattr(doc, "subject_countries", [])),
                description="ISO 3166-1 alpha-2 codes of the countries a document is about (OR)",
                spec_values=lambda: sorted(country_codes()),
            ),
            Facet(
                name="country",
                title="Mentions",
                field="countries",
                record_key="countries",
                param="country",
                query_alias="country",
                normalize=_country,
                value_noun="country code",
                resolve_query_value=resolve_country,
                label=country_label,
                extract=lambda doc, passage: list(passage.countries),
                description="ISO 3166-1 alpha-2 codes (OR)",
                spec_values=lambda: sorted(country_codes()),
            ),
            Facet(
                name="regions",
                title="Regions",
                field="regions",
                record_key="regions",
                param="region",
                query_alias="region",
                normalize=_region,
                value_noun="region",
                label=_region_label,
                extract=_regions_of,
                description="Region ids (central-america, northern-triangle, eu, …; OR)",
                spec_values=_region_ids,
            ),
            Facet(
                name="topic",
                title="Topics",
                field="topics",
                record_key="topics",
                param="topic",
                query_alias="topic",
                extract=lambda doc, passage: list(passage.topics),
                description="Topic ids (OR)",
            ),
            Facet(
                name="source",
                title="Sources",
                kind=VALUE,
                field="source",
                param="source",
                query_alias="source",
                query_field="source_text",
                description="Sources (OR)",
            ),
            Facet(name="year", title="Years", kind=YEAR),
        )
    )
