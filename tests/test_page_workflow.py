"""Issue 15 on the page, in real Chromium against real gunicorn: results by document (the
default) and its toggle, the export menu, the timeline (click and drag), the search history;
axe-core finds nothing on any of these views."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.serving import Server, copy_seeds
from tests.test_page import CHROMIUM, LAUNCH_ARGS, query_of

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser

DATED = {
    "pact.txt": ("Ecuador Signs Security Pact", "Tuesday, March 4, 2025"),
    "darien.txt": ("Panama Tightens Darien Security Controls", "Thursday, March 20, 2025"),
    "minister.txt": ("Guatemala Names New Security Minister", "Wednesday, January 10, 2024"),
}
BODY = (
    "Officials said the security agreement covers naval patrols, border police and drug "
    "trafficking interdiction, and builds on years of cooperation against organized crime and "
    "the cartels that move cocaine north through the region's ports and highways."
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn over the seeds plus three dated briefs (January 2024, March 2025 twice)."""
    root = tmp_path_factory.mktemp("page-workflow")
    docs = copy_seeds(root / "docs")
    for name, (title, dateline) in DATED.items():
        (docs / name).write_text(f"{title}\n\n{dateline}\n\n{BODY}\n", encoding="utf-8")
    with Server(docs, root / "index") as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One Chromium for every test in the module."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (set BRIEFING_CHROMIUM)")
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, server: Server) -> Iterator[object]:  # type: ignore[no-untyped-def]
    """A fresh desktop tab (fresh localStorage); fails the test on any script error."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server.url)
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    problems: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    tab.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    yield tab
    context.close()
    assert problems == []


def settled(tab) -> None:  # type: ignore[no-untyped-def]
    """Wait until the page has rendered its answer."""
    expect(tab.locator("main")).not_to_have_attribute("aria-busy", "true")
    expect(tab.locator("#summary")).not_to_be_empty()


def api(server: Server, **params: object) -> dict:
    response = server.get("/api/search", params={"per_page": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_results_group_by_document_by_default_and_the_toggle_is_in_the_url(page, server) -> None:  # type: ignore[no-untyped-def]
    grouped = api(server, q="security", group="document", per_page=10)
    passages = api(server, q="security")
    page.goto("/?q=security")
    settled(page)
    expect(page.locator("#by-document")).to_be_checked()
    expect(page.locator("#summary")).to_have_text(
        re.compile(rf"^{grouped['total_documents']} documents \({passages['total']} passages\) in")
    )
    titles = page.locator(".hit-title a").all_text_contents()
    assert titles == [h["title"] or h["doc_id"] for h in grouped["hits"]]
    # Seed 003's card: its best passage, then its next two, and how many matched in all.
    seed = next(h for h in grouped["hits"] if h["doc_id"].startswith("003_"))
    card = page.locator(".hit", has=page.locator(f'.hit-title a[href*="{seed["doc_id"]}"]'))
    expect(card.locator(".passage-snippet")).to_have_count(len(seed["passages"]) - 1)
    expect(card).to_contain_text(f"{seed['matched_passages']} matching passages in this document")

    page.locator("#by-document").uncheck()
    expect(page).to_have_url(re.compile(r"[?&]group=passage"))
    settled(page)
    expect(page.locator("#summary")).to_have_text(re.compile(rf"^{passages['total']} passages in"))
    expect(page.locator(".hit")).to_have_count(10)
    expect(page.locator(".passage-snippet")).to_have_count(0)
    page.reload()
    settled(page)
    expect(page.locator("#by-document")).not_to_be_checked()
    page.go_back()
    settled(page)
    expect(page.locator("#by-document")).to_be_checked()


def test_export_menu_links_export_the_current_search(page, server) -> None:  # type: ignore[no-untyped-def]
    page.goto("/?q=security&country=US&sort=newest&page=2")
    settled(page)
    page.get_by_text("Export", exact=True).click()
    csv_link = page.get_by_role("link", name="CSV (spreadsheets)")
    expect(csv_link).to_be_visible()
    href = csv_link.get_attribute("href")
    assert href == "/api/export?q=security&country=US&sort=newest&format=csv&bom=true"
    assert page.get_by_role("link", name="JSON Lines").get_attribute("href") == (
        "/api/export?q=security&country=US&sort=newest&format=jsonl"
    )
    with page.expect_download() as download:
        csv_link.click()
    assert download.value.suggested_filename == "briefing-export.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text("utf-8-sig"))))
    expected = api(server, q="security", country="US", sort="newest")
    assert [r["passage_id"] for r in rows] == [h["passage_id"] for h in expected["hits"]]
    body = requests.get(server.url + href, timeout=10)
    assert body.content.startswith(b"\xef\xbb\xbf")


def test_timeline_click_and_drag_set_the_date_range(page, server) -> None:  # type: ignore[no-untyped-def]
    months = api(server, q="security", histogram="month")["histogram"]
    page.goto("/?q=security")
    settled(page)
    bars = page.locator("#timeline .timeline-bar")
    expect(bars).to_have_count(len(months))
    march = next(i for i, b in enumerate(months) if b["start"] == "2025-03-01")
    expect(bars.nth(march)).to_have_attribute("aria-label", "March 2025: 2 passages")
    expect(bars.nth(0)).to_have_attribute("aria-label", "January 2024: 1 passage")

    bars.nth(march).click()
    expect(page).to_have_url(re.compile(r"date_from=2025-03-01&date_to=2025-03-31"))
    settled(page)
    expect(page.locator("#date-from")).to_have_value("2025-03-01")
    expect(page.locator("#date-to")).to_have_value("2025-03-31")
    expect(page.locator("#summary")).to_have_text(re.compile(r"^2 documents \(2 passages\)"))
    # The chart keeps every bar (disjunctive), the picked one marked.
    expect(bars).to_have_count(len(months))
    expect(page.locator("#timeline .timeline-bar.is-selected")).to_have_count(1)

    # A drag from the first bar to March 2025 picks the whole span; keyboard works too.
    first = bars.nth(0).locator(".timeline-hit").bounding_box()
    last = bars.nth(march).locator(".timeline-hit").bounding_box()
    page.mouse.move(first["x"] + first["width"] / 2, first["y"] + 20)
    page.mouse.down()
    page.mouse.move(last["x"] + last["width"] / 2, last["y"] + 20, steps=5)
    page.mouse.up()
    expect(page).to_have_url(re.compile(r"date_from=2024-01-01&date_to=2025-03-31"))
    settled(page)
    assert query_of(page)["date_from"] == ["2024-01-01"]
    expect(page.locator("#summary")).to_have_text(re.compile(r"^3 documents \(3 passages\)"))
    bars.nth(0).focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"date_from=2024-01-01&date_to=2024-01-31"))


def test_search_history_lists_the_last_searches_and_clears(page) -> None:  # type: ignore[no-untyped-def]
    page.goto("/")
    settled(page)
    history = page.locator("#history")
    expect(history).to_be_hidden()
    for query in ("huawei", "migration", "security"):
        page.fill("#q", query)
        page.press("#q", "Enter")
        expect(page.locator("#results-heading")).to_contain_text(query)
        settled(page)
    page.goto("/?q=security&country=CR")
    settled(page)
    page.goto("/?q=huawei")  # a repeat moves to the top, never twice
    settled(page)
    history.locator("summary").click()
    links = history.locator(".history-link")
    assert links.all_text_contents() == [
        "huawei",
        "security · country: CR",
        "security",
        "migration",
    ]
    expect(history.locator("summary")).to_have_text("Recent searches (4)")
    links.nth(1).click()
    expect(page).to_have_url(re.compile(r"/\?q=security&country=CR$"))
    settled(page)
    stored = page.evaluate("JSON.parse(localStorage.getItem('briefing-search-history')).length")
    assert stored == 4
    # At most 50 kept.
    for n in range(55):
        page.evaluate(
            "n => { const s = JSON.parse(localStorage.getItem('briefing-search-history'));"
            " s.unshift({query: 'q=w' + n, label: 'w' + n}); "
            "localStorage.setItem('briefing-search-history', JSON.stringify(s)); }",
            n,
        )
    page.goto("/?q=cartels")
    settled(page)
    expect(history.locator("summary")).to_have_text("Recent searches (50)")
    history.locator("summary").click()
    history.get_by_role("button", name="Clear history").click()
    expect(history).to_be_hidden()
    assert page.evaluate("localStorage.getItem('briefing-search-history')") is None


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violation_on_the_new_views(browser, server: Server, scheme) -> None:  # type: ignore[no-untyped-def]
    """axe-core on grouped results, ungrouped, a picked date range, the history and the open
    export menu: 0 violations, desktop and phone."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    for width in (1280, 390):
        context = browser.new_context(
            viewport={"width": width, "height": 900}, color_scheme=scheme, base_url=server.url
        )
        tab = context.new_page()
        try:
            for url in (
                "/?q=security",
                "/?q=security&group=passage",
                "/?q=security&date_from=2025-03-01&date_to=2025-03-31",
            ):
                tab.goto(url)
                settled(tab)
                tab.locator("#history summary").click()
                tab.locator("#export summary").click()
                result = axe.run(tab)
                assert result.violations_count == 0, f"{url}\n{result.generate_report()}"
        finally:
            context.close()
