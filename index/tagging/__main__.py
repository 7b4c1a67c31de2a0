"""`python -m index.tagging`: build the gazetteer caches now (run by `make install`)."""

from __future__ import annotations

from index.tagging import country_tagger
from index.tagging.places import cache_dir, city_lookup


def main() -> None:
    """Build the tagger and the dateline gazetteer so that their caches exist."""
    country_tagger()
    city_lookup()
    print(f"gazetteer cached in {cache_dir()}")


if __name__ == "__main__":
    main()
