"""The page's saved searches in real Chromium against a real gunicorn: "Save this search" on a
results page (asking for the write key), and the Alerts view with unseen-hit counts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.serving import Server, copy_seeds, wait_until
from tests.test_page import CHROMIUM, LAUNCH_ARGS

playwright_api = pytest.importorskip("playwright.sync_api")
expect = playwright_api.expect

pytestmark = pytest.mark.browser

KEY = "page-alerts-key"
MATCHING = (
    "Huawei opens a lab in San José\n\nSAN JOSE, Costa Rica - Huawei opened a research lab in "
    "San José on Tuesday, officials in Costa Rica said, despite the 5G restrictions.\n"
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn over the seeds with a write key; uploads index (and percolate) themselves."""
    root = tmp_path_factory.mktemp("page-alerts")
    docs = copy_seeds(root / "docs")
    with Server(docs, root / "index", env={"BRIEFING_API_KEYS": KEY}) as running:
        yield running


@pytest.fixture(scope="module")
def tab(server: Server) -> Iterator[object]:
    """One desktop tab for the module's steps (the key stays in its session storage)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (set BRIEFING_CHROMIUM)")
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=server.url)
        page = context.new_page()
        # Generous: under make test -n 2 a view waits for gunicorn among the other tests.
        page.set_default_timeout(20_000)
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
        yield page
        browser.close()
        assert problems == []


def _axe_clean(tab) -> None:  # type: ignore[no-untyped-def]
    from axe_playwright_python.sync_playwright import Axe

    result = Axe().run(tab)
    assert result.violations_count == 0, result.generate_report()


def test_save_this_search_asks_for_the_key_and_saves(tab, server: Server) -> None:  # type: ignore[no-untyped-def]
    tab.goto("/?q=huawei&country=CR")
    expect(tab.locator("main")).not_to_have_attribute("aria-busy", "true")
    expect(tab.locator("#summary")).not_to_be_empty()
    tab.click("#save-search")
    expect(tab.locator("#save-name")).to_have_value("huawei")
    tab.fill("#save-name", "Huawei in Costa Rica")
    tab.click("#save-form button[type=submit]")
    expect(tab.locator("#save-status")).to_contain_text("needs an API key")
    expect(tab.locator("#save-key")).to_be_focused()
    _axe_clean(tab)
    tab.fill("#save-key", KEY)
    tab.click("#save-form button[type=submit]")
    expect(tab.locator("#save-status")).to_contain_text("Saved “Huawei in Costa Rica”")
    expect(tab.locator("#save-key-field")).to_be_hidden()
    _axe_clean(tab)
    saved = requests.get(server.url + "/api/alerts", timeout=10).json()["alerts"]
    assert [(a["name"], a["q"], a["country"], a["hits"]) for a in saved] == [
        ("Huawei in Costa Rica", "huawei", ["CR"], 0)
    ]


def test_alerts_view_lists_unseen_hits_and_shows_them(tab, server: Server) -> None:  # type: ignore[no-untyped-def]
    upload = requests.post(
        server.url + "/api/documents",
        json={"filename": "huawei-lab.txt", "text": MATCHING},
        headers={"Authorization": f"Bearer {KEY}"},
        timeout=30,
    )
    assert upload.status_code == 201, upload.text
    # Percolation follows the commit the upload waited for: the hit is recorded a moment later.
    wait_until(
        lambda: requests.get(server.url + "/api/alerts", timeout=10).json()["alerts"][0]["hits"],
        30,
        "the upload's alert hit",
    )
    tab.goto("/alerts")
    expect(tab.locator("#main")).not_to_have_attribute("aria-busy", "true")
    expect(tab.locator("#summary")).to_have_text("1 saved search, 1 new hit")
    item = tab.locator(".alert-item")
    expect(item.locator(".alert-unseen")).to_have_text("1 new")
    expect(item).to_contain_text("“huawei” · Mentions: Costa Rica")
    _axe_clean(tab)
    item.locator(".alert-open").click()
    expect(tab.locator("#hits-heading")).to_have_text("Hits for Huawei in Costa Rica")
    document = tab.locator(".alert-document")
    expect(document).to_have_count(1)
    expect(document.locator("a")).to_have_text("Huawei opens a lab in San José")
    expect(document.locator("mark").first).to_have_text("Huawei")
    # Opened with the key this tab saved with: the hits now count as seen.
    expect(item.locator(".alert-unseen")).to_have_count(0)
    _axe_clean(tab)
    alert = requests.get(server.url + "/api/alerts", timeout=10).json()["alerts"][0]
    assert (alert["hits"], alert["unseen"]) == (1, 0)
    tab.click(".alert-links a >> text=Open search")
    expect(tab).to_have_url(f"{server.url}/?q=huawei&country=CR")
