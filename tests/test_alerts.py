"""Saved searches and alerts end to end: a real `briefing serve` (gunicorn, the watcher) over a
temp folder, real dropped files, a real local webhook receiver, the Atom feed read by
feedparser, and a restart. Every wait is a bounded poll.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import feedparser
import pytest
import requests

from tests.serving import Server, copy_seeds, free_port, wait_until

KEY = "alerts-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
DEADLINE = 30.0

MATCHING = (
    "Cocoa exporters in Ghana\n\nACCRA (Reuters) - Cocoa exporters in Ghana said on Monday that "
    "zqvantablack shipments to the port of Tema would resume next week after the strike ended, "
    "officials at the cocoa board told reporters.\n"
)
NOT_MATCHING = (
    "Grain harvest in Ghana\n\nACCRA (Reuters) - Maize farmers in Ghana said on Monday that the "
    "harvest was larger than last year, officials at the agriculture ministry told reporters.\n"
)
LATER = (
    "More cocoa news\n\nACCRA (Reuters) - A second zqvantablack cargo left Tema on Friday, the "
    "cocoa board said, as exporters in Ghana caught up with orders delayed by the strike.\n"
)


class Receiver:
    """A local HTTP server that answers 500 to the first POST and 200 after, recording each."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                self.send_response(500 if len(receiver.requests) == 1 else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


# The tests below share one server and build on each other's drops (a hit recorded by one is
# retried, fed and re-dropped by the next): `make test` runs pytest with --dist loadfile, so one
# xdist worker runs a file's tests in order.


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    """The webhook receiver."""
    found = Receiver()
    yield found
    found.close()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The module's folder: the seeds as documents, the index beside them."""
    base = tmp_path_factory.mktemp("alerts")
    copy_seeds(base / "docs")
    return base


def _server(root: Path) -> Server:
    env = {"BRIEFING_API_KEYS": KEY, "BRIEFING_WEBHOOK_BACKOFF": "0.2"}
    return Server(root / "docs", root / "index", workers=2, watch=True, env=env)


@pytest.fixture(scope="module")
def server(root: Path) -> Iterator[Server]:
    """`briefing serve` with the watcher, over the seeds."""
    with _server(root) as srv:
        yield srv


def _hits(server: Server, alert_id: int) -> dict[str, Any]:
    response = server.get(f"/api/alerts/{alert_id}/hits")
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def _searchable(server: Server, doc_id: str) -> bool:
    data = server.get(f"/api/search?doc_id={doc_id}").json()
    return bool(data.get("total"))


def _drop(folder: Path, name: str, text: str) -> None:
    """Write to a hidden temporary name, then rename: the watcher sees one complete file."""
    tmp = folder / f".{name}.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.rename(folder / name)


def _search_hits(server: Server, doc_id: str) -> list[dict[str, Any]]:
    """/api/search's hits for the alert's query within one document."""
    params = {"q": "zqvantablack cocoa", "country": "GH", "doc_id": doc_id, "per_page": 100}
    response = requests.get(server.url + "/api/search", params=params, timeout=10)
    hits: list[dict[str, Any]] = response.json()["hits"]
    return hits


@pytest.fixture(scope="module")
def alert(server: Server, receiver: Receiver) -> dict[str, Any]:
    """A saved search with a webhook, created before any drop."""
    body = {
        "name": "Ghana cocoa",
        "q": "zqvantablack cocoa",
        "country": ["gh"],
        "webhook_url": receiver.url,
    }
    response = requests.post(server.url + "/api/alerts", json=body, headers=AUTH, timeout=10)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.fixture(scope="module")
def dropped(server: Server, alert: dict[str, Any], root: Path) -> None:
    """A matching and a not matching file dropped after the alert was made, both searchable:
    what the tests of its hits, webhook and feed need, whichever of them runs first or alone."""
    docs = root / "docs"
    _drop(docs, "grain.txt", NOT_MATCHING)
    _drop(docs, "cocoa.txt", MATCHING)
    wait_until(lambda: _searchable(server, "cocoa.txt"), DEADLINE, "cocoa.txt searchable")
    wait_until(lambda: _searchable(server, "grain.txt"), DEADLINE, "grain.txt searchable")


def test_created_alert_answers_its_whole_contract(server: Server, alert: dict[str, Any]) -> None:
    base = server.url + "/"
    expected = {
        "id": alert["id"],
        "name": "Ghana cocoa",
        "q": "zqvantablack cocoa",
        "subject_country": [],
        "country": ["GH"],
        "region": [],
        "topic": [],
        "source": [],
        "doc_id": [],
        "date_from": None,
        "date_to": None,
        "match": "auto",
        "webhook_url": alert["webhook_url"],
        "created_at": alert["created_at"],
        "updated_at": alert["created_at"],
        "estimated_per_day": 0.0,
        "too_broad": False,
        "hits": 0,
        "unseen": 0,
        "last_hit_at": None,
        "links": {
            "hits": f"{base}api/alerts/{alert['id']}/hits",
            "feed": f"{base}alerts/{alert['id']}.atom",
            "deliveries": f"{base}api/alerts/{alert['id']}/deliveries",
            "search": f"{base}?q=zqvantablack+cocoa&country=GH",
        },
    }
    assert {k: v for k, v in alert.items() if k != "webhook_secret"} == expected
    assert len(alert["webhook_secret"]) == 64
    assert server.get(f"/api/alerts/{alert['id']}").json() == expected
    assert server.get("/api/alerts").json() == {"alerts": [expected]}


def test_a_matching_drop_alerts_within_its_commit_and_a_other_does_not(
    server: Server, alert: dict[str, Any], dropped: None
) -> None:
    # Percolation follows the commit in the watcher: by the time both files are searchable
    # their commit's matches are recorded.
    hits = wait_until(lambda: _hits(server, alert["id"])["documents"], DEADLINE, "hits")
    search_hits = _search_hits(server, "cocoa.txt")
    assert len(search_hits) == 1
    data = _hits(server, alert["id"])
    matched_at = hits[0]["matched_at"]
    assert data == {
        "alert_id": alert["id"],
        "passages": 1,
        "documents": [
            {
                "doc_id": "cocoa.txt",
                "title": "Cocoa exporters in Ghana",
                "date": None,
                "matched_at": matched_at,
                # Score, highlight, tags and offsets exactly as /api/search gives them.
                "passages": search_hits,
            }
        ],
    }
    listed = server.get(f"/api/alerts/{alert['id']}").json()
    assert (listed["hits"], listed["unseen"], listed["last_hit_at"]) == (1, 1, matched_at)
    later = server.get(f"/api/alerts/{alert['id']}/hits", params={"since": matched_at})
    assert later.json() == {"alert_id": alert["id"], "passages": 0, "documents": []}


def test_webhook_is_signed_and_retried_after_a_500(
    server: Server, alert: dict[str, Any], receiver: Receiver, dropped: None
) -> None:
    wait_until(lambda: len(receiver.requests) >= 2, DEADLINE, "a retry after the 500")
    first, second = receiver.requests[:2]
    assert first["body"] == second["body"]
    body = second["body"]
    expected_signature = (
        "sha256=" + hmac.new(alert["webhook_secret"].encode(), body, hashlib.sha256).hexdigest()
    )
    assert second["headers"]["X-Briefing-Signature"] == expected_signature
    assert second["headers"]["Content-Type"] == "application/json"
    payload = json.loads(body)
    hits = _hits(server, alert["id"])
    assert payload == {
        "alert": {"id": alert["id"], "name": "Ghana cocoa"},
        "matched_at": hits["documents"][0]["matched_at"],
        "documents": hits["documents"],
    }

    def delivered() -> list[dict[str, Any]]:
        log = server.get(f"/api/alerts/{alert['id']}/deliveries").json()["deliveries"]
        return [d for d in log if d["status"] == "delivered"]

    log = wait_until(delivered, DEADLINE, "the delivery logged as delivered")
    assert len(log) == 1
    entry = log[0]
    assert [(a["http_status"], a["error"]) for a in entry["attempts"]] == [(500, None), (200, None)]
    assert (entry["url"], entry["next_attempt_at"], entry["body"]) == (
        receiver.url,
        None,
        payload,
    )


def test_atom_feed_parses_as_a_feed(server: Server, alert: dict[str, Any], dropped: None) -> None:
    response = server.get(f"/alerts/{alert['id']}.atom")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/atom+xml; charset=utf-8"
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    assert feed.version == "atom10"
    assert feed.feed.title == "Briefing Search alert: Ghana cocoa"
    assert [e.title for e in feed.entries] == ["Cocoa exporters in Ghana (¶ 0)"]
    entry = feed.entries[0]
    assert entry.link == (
        f"{server.url}/documents/cocoa.txt?passage=cocoa.txt%230&q=zqvantablack+cocoa"
    )
    assert "<strong>zqvantablack</strong>" in entry.content[0].value
    assert entry.id.endswith(f":alert/{alert['id']}/match/1")


def test_redropped_bytes_and_a_restart_alert_no_one_twice(
    server: Server, alert: dict[str, Any], root: Path, receiver: Receiver
) -> None:
    docs = root / "docs"
    before = _hits(server, alert["id"])
    # The same bytes again (a new modification time): unchanged, so not reindexed.
    _drop(docs, "cocoa.txt", MATCHING)
    _drop(docs, "marker.txt", NOT_MATCHING.replace("Maize", "Sorghum"))
    wait_until(lambda: _searchable(server, "marker.txt"), DEADLINE, "marker.txt searchable")
    assert _hits(server, alert["id"]) == before
    server.stop()
    # Dropped while nothing watches: the start-up sync indexes it and percolation catches up.
    _drop(docs, "later.txt", LATER)
    restarted = _server(root)
    restarted.port, restarted.url = server.port, server.url
    with restarted:
        wait_until(
            lambda: _hits(restarted, alert["id"])["passages"] == 2, DEADLINE, "later.txt alerted"
        )
        after = _hits(restarted, alert["id"])
        assert [d["doc_id"] for d in after["documents"]] == ["later.txt", "cocoa.txt"]
        assert after["documents"][1] == before["documents"][0]
        wait_until(lambda: len(receiver.requests) >= 3, DEADLINE, "later.txt's webhook")
        assert json.loads(receiver.requests[2]["body"])["documents"][0]["doc_id"] == "later.txt"
        # A second sync of the unchanged folder records nothing.
        assert requests.post(restarted.url + "/api/reindex", headers=AUTH, timeout=60).ok
        assert _hits(restarted, alert["id"]) == after
        seen = requests.patch(
            f"{restarted.url}/api/alerts/{alert['id']}", json={"seen": True}, headers=AUTH
        )
        assert (seen.status_code, seen.json()["hits"], seen.json()["unseen"]) == (200, 2, 0)
    server.start()


@pytest.mark.parametrize(
    ("body", "status", "errors"),
    [
        ({"name": "x", "country": ["zz"]}, 422, {"country": ["unknown country code(s): zz"]}),
        ({"name": "x", "countries": ["CR"]}, 422, {"countries": ["Unknown field."]}),
        (
            {"name": "x", "webhook_url": "ftp://example.org/"},
            422,
            {"webhook_url": ["Not a valid URL."]},
        ),
        ({"name": "", "q": "x"}, 422, {"name": ["Length must be between 1 and 200."]}),
        ({"q": "x"}, 422, {"name": ["Missing data for required field."]}),
        ({"name": "x", "date_from": "last week"}, 422, {"date_from": ["Not a valid date."]}),
        ({"name": "x", "q": "*a*"}, 422, None),
    ],
)
def test_bad_alerts_are_refused_in_the_error_shape(
    server: Server, body: dict[str, Any], status: int, errors: dict[str, Any] | None
) -> None:
    response = requests.post(server.url + "/api/alerts", json=body, headers=AUTH, timeout=10)
    assert response.status_code == status, response.text
    data = response.json()
    assert set(data) == {"code", "status", "message", "errors"}
    if errors is not None:
        assert data["errors"] == errors
    else:
        assert list(data["errors"]) == ["q"]


def test_writes_need_the_key_and_unknown_alerts_are_404(server: Server) -> None:
    url = server.url + "/api/alerts"
    assert requests.post(url, json={"name": "x"}, timeout=10).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert requests.post(url, json={"name": "x"}, headers=wrong, timeout=10).status_code == 403
    assert requests.delete(url + "/1", timeout=10).status_code == 401
    for path in ("/api/alerts/9999", "/api/alerts/9999/hits", "/alerts/9999.atom"):
        response = server.get(path)
        assert (response.status_code, response.json()["message"]) == (404, "no alert 9999")
    missing = requests.patch(url + "/9999", json={"name": "y"}, headers=AUTH, timeout=10)
    assert missing.status_code == 404


def test_a_search_matching_much_of_the_index_is_flagged_too_broad(server: Server) -> None:
    # The seeds carry no dates: the estimate is the whole index's hits as one day.
    response = requests.post(
        server.url + "/api/alerts", json={"name": "everything"}, headers=AUTH, timeout=10
    )
    created = response.json()
    passages = server.get("/readyz").json()["passages"]
    assert (created["estimated_per_day"], created["too_broad"]) == (float(passages), False)
    narrowed = requests.patch(
        f"{server.url}/api/alerts/{created['id']}",
        json={"q": "huawei"},
        headers=AUTH,
        timeout=10,
    ).json()
    huawei = server.get("/api/search?q=huawei&per_page=1").json()["total"]
    assert (narrowed["q"], narrowed["estimated_per_day"]) == ("huawei", float(huawei))
    assert (
        requests.delete(
            f"{server.url}/api/alerts/{created['id']}", headers=AUTH, timeout=10
        ).status_code
        == 204
    )


def test_patch_changes_only_what_it_names(server: Server) -> None:
    created = requests.post(
        server.url + "/api/alerts",
        json={"name": "dated", "q": "huawei", "date_from": "2020-01-01"},
        headers=AUTH,
        timeout=10,
    ).json()
    url = f"{server.url}/api/alerts/{created['id']}"
    changed = requests.patch(url, json={"date_to": "2020-12-31"}, headers=AUTH, timeout=10)
    assert changed.status_code == 200, changed.text
    data = changed.json()
    assert (data["name"], data["q"], data["date_from"], data["date_to"]) == (
        "dated",
        "huawei",
        "2020-01-01",
        "2020-12-31",
    )
    renamed = requests.patch(url, json={"name": "renamed"}, headers=AUTH, timeout=10).json()
    assert {k: v for k, v in renamed.items() if k not in ("name", "updated_at")} == {
        k: v for k, v in data.items() if k not in ("name", "updated_at")
    }
    assert requests.delete(url, headers=AUTH, timeout=10).status_code == 204
