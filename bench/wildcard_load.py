"""Normal-query latency while wildcard attacks run (issue 17), through the production layout.

`python -m bench.wildcard_load [--passages 20000] [--seconds 30] [--out docs/wildcard-benchmarks.md]`

Reuters articles (../shared/corpora/reuters21578) are written as files until about `--passages`
passages, indexed by `briefing serve`'s start-up sync (gunicorn, 2 workers), with Debian's nginx in
front (deploy/nginx/, its per-client rate of reads included). Each client has its own loopback
address, as real clients have their own addresses: `ANALYSTS` clients send normal queries at a
person's pace (one every `ANALYST_INTERVAL` s each, under the proxy's rate), for `--seconds`:

1. alone;
2. while `ATTACKERS` clients loop over wildcard and prefix queries back to back through the proxy;
3. while the same attackers go straight to gunicorn, past the proxy (what the rate limit buys).

Each attacker is a process of its own; the analysts are threads of this one.

Phases 1 and 2 alternate `--rounds` times, so the spread of the quiet rounds' p99 (the noise of
this machine) stands beside the attacked rounds' p99; phase 3 runs once, last.

`--attacker-nice N` runs the attacker processes at that niceness: a stand-in for attackers on
other machines, whose own client work would not share the server's 2 cores (nginx's and the
server's work for their requests still does). The attack rate each phase reached is reported.

Reported: the normal queries' p50/p95/p99 in each phase, and what the attacks got.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import requests

from bench.run import load_articles, passages_per_article, percentiles, write_corpus
from tests.serving import Proxy, Server

NORMAL = ("oil", "trade deficit", "bank rates", "coffee prices", "wheat exports", "opec output")
# The attacks, plus prefixes that are still allowed (bounded to 200 words each).
ATTACKS = ("?*?*?*", "*a*", "*", "a*", "s* OR t* OR c* OR p*", "title:*")
ATTACKERS = 2
# The control: the same clients sending as many requests that nginx answers by itself (an
# internal location: 404) and no worker sees. What the analysts lose to it is what any flood of
# that size costs on these shared cores, whatever it asks for.
CONTROL_PATH = "/_briefing_errors/control"
# Seconds the attackers run before the analysts start (past the proxy's burst allowance): their
# request rates count it.
ATTACK_LEAD = 1.0
# Analysts searching at once, each from its own address, and how often each sends a search:
# 8 a second each is under the proxy's 10 a second per client, and more than a person types.
ANALYSTS = 4
ANALYST_INTERVAL = 0.125


def _get(host: str, port: int, source: str, query: str) -> tuple[int, float]:
    """One search from a loopback source address: status and milliseconds."""
    conn = http.client.HTTPConnection(host, port, timeout=120, source_address=(source, 0))
    started = time.perf_counter()
    try:
        conn.request("GET", "/api/search?" + urllib.parse.urlencode({"q": query}))
        response = conn.getresponse()
        response.read()
        return response.status, (time.perf_counter() - started) * 1000
    finally:
        conn.close()


def _analyst(port: int, source: str, seconds: float, out: list[tuple[int, float]]) -> None:
    """Normal queries at a steady pace for `seconds`: (status, ms) of each into `out`."""
    deadline = time.monotonic() + seconds
    n = 0
    next_at = time.monotonic()
    while time.monotonic() < deadline:
        out.append(_get("127.0.0.1", port, source, NORMAL[n % len(NORMAL)]))
        n += 1
        next_at += ANALYST_INTERVAL
        time.sleep(max(0.0, next_at - time.monotonic()))


def _normal_latencies(port: int, seconds: float) -> tuple[list[float], int]:
    """Milliseconds of every analyst's queries over `seconds`, and the non-200 answers."""
    results: list[tuple[int, float]] = []
    threads = [
        threading.Thread(target=_analyst, args=(port, f"127.0.1.{i + 1}", seconds, results))
        for i in range(ANALYSTS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [ms for _, ms in results], sum(status != 200 for status, _ in results)


@dataclass(frozen=True)
class Attack:
    """How the attackers run: their niceness, requests a second each (0: back to back), and
    whether they send the control requests instead of the attacks."""

    niceness: int = 0
    rate: float = 0.0
    control: bool = False


def _attack(port: int, source: str, stop: Any, out: Any, attack: Attack) -> None:
    """Loop over the attacks until `stop` is set; put every (query, status, ms) on `out`.
    With `attack.control`, request CONTROL_PATH instead, as many times.

    One kept-alive connection, as a flooding client would use (a new connection per request
    also runs out of the source address's ephemeral ports within a minute); a new one after
    the server closes it.
    """
    if attack.niceness:
        os.nice(attack.niceness)
    record = []
    conn: http.client.HTTPConnection | None = None
    next_at = time.monotonic()
    while not stop.is_set():
        for q in ATTACKS:
            if attack.rate:
                next_at += 1 / attack.rate
                time.sleep(max(0.0, next_at - time.monotonic()))
            if conn is None:
                conn = http.client.HTTPConnection(
                    "127.0.0.1", port, timeout=120, source_address=(source, 0)
                )
            started = time.perf_counter()
            path = (
                CONTROL_PATH
                if attack.control
                else "/api/search?" + urllib.parse.urlencode({"q": q})
            )
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                response.read()
                status = response.status
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                status = 0
                conn.close()
                conn = None
            record.append(
                (path if attack.control else q, status, (time.perf_counter() - started) * 1000)
            )
    out.put(record)


def _under_attack(
    normal_port: int, attack_port: int, seconds: float, attack: Attack
) -> tuple[list[float], int, list[tuple[str, int, float]]]:
    """Normal latencies while attackers (own addresses) hit `attack_port`.

    Each attacker is a process of its own, as a real attacker is another program: as threads of
    this process they would hold the interpreter lock the analysts' client threads wait on, and
    the analysts' latency would count the attackers' Python time.
    """
    ctx = multiprocessing.get_context("fork")
    stop, out = ctx.Event(), ctx.Queue()
    attackers = [
        ctx.Process(
            target=_attack,
            args=(attack_port, f"127.0.2.{i + 1}", stop, out, attack),
        )
        for i in range(ATTACKERS)
    ]
    for process in attackers:
        process.start()
    time.sleep(ATTACK_LEAD)  # the attackers are past the proxy's burst allowance
    latencies, errors = _normal_latencies(normal_port, seconds)
    stop.set()
    record = [entry for _ in attackers for entry in out.get(timeout=180)]
    for process in attackers:
        process.join(timeout=60)
    return latencies, errors, record


def _attack_summary(record: list[tuple[str, int, float]]) -> dict[str, Any]:
    by_query: dict[str, dict[str, Any]] = {}
    for q, status, ms in record:
        entry = by_query.setdefault(q, {"statuses": {}, "ms": []})
        entry["statuses"][str(status)] = entry["statuses"].get(str(status), 0) + 1
        entry["ms"].append(ms)
    return {
        q: {
            "statuses": e["statuses"],
            "median_ms": round(statistics.median(e["ms"]), 1),
            "max_ms": round(max(e["ms"]), 1),
        }
        for q, e in by_query.items()
    }


def run(
    passages: int, seconds: float, rounds: int = 1, niceness: int = 0, rate: float = 0.0
) -> dict[str, Any]:
    """Index, serve behind nginx, measure; the figures as a dict."""
    articles = load_articles()
    per_article = passages_per_article(articles)
    with tempfile.TemporaryDirectory(prefix="wildcard-bench-") as tmp:
        docs = Path(tmp) / "docs"
        write_corpus(articles, docs, int(passages / per_article))
        started = time.monotonic()
        server = Server(docs, Path(tmp) / "index", workers=2).start(timeout=1800)
        index_seconds = time.monotonic() - started
        proxy = Proxy(Path(tmp) / "nginx", server.port).start()
        try:
            stats = requests.get(server.url + "/readyz", timeout=10).json()
            _normal_latencies(proxy.port, 3)  # warm-up: searchers, facet arrays
            # The attacks once, unmeasured: the admitted prefixes' words decoded in both workers.
            attack = Attack(niceness, rate)
            _under_attack(proxy.port, server.port, 3, attack)
            alone, alone_errors, proxied, proxied_errors = [], 0, [], 0
            proxied_record: list[tuple[str, int, float]] = []
            controlled: list[float] = []
            control_record: list[tuple[str, int, float]] = []
            per_round = []
            for _ in range(rounds):
                quiet, errors = _normal_latencies(proxy.port, seconds)
                attacked, attacked_errors, record = _under_attack(
                    proxy.port, proxy.port, seconds, attack
                )
                flooded, _, flood = _under_attack(
                    proxy.port, proxy.port, seconds, replace(attack, control=True)
                )
                per_round.append(
                    {
                        "alone": percentiles(quiet),
                        "under_attack": percentiles(attacked),
                        "control": percentiles(flooded),
                        "attack_requests_per_s": round(len(record) / (seconds + ATTACK_LEAD), 1),
                        "control_requests_per_s": round(len(flood) / (seconds + ATTACK_LEAD), 1),
                    }
                )
                controlled += flooded
                control_record += flood
                alone += quiet
                alone_errors += errors
                proxied += attacked
                proxied_errors += attacked_errors
                proxied_record += record
            direct, direct_errors, direct_record = _under_attack(
                proxy.port, server.port, seconds, attack
            )
        finally:
            proxy.stop()
            server.stop()

    def row(latencies: list[float], errors: int) -> dict[str, Any]:
        return {**percentiles(latencies), "n": len(latencies), "errors": errors}

    return {
        "passages": stats["passages"],
        "documents": stats["documents"],
        "startup_seconds": round(index_seconds, 1),
        "rounds": per_round,
        "attacker_niceness": niceness,
        "attack_rate": rate,
        "baseline": row(alone, alone_errors),
        "under_attack": row(proxied, proxied_errors),
        "under_attack_past_proxy": row(direct, direct_errors),
        "control": row(controlled, 0),
        "control_statuses": _attack_summary(control_record),
        "attack_requests_per_s": round(len(proxied_record) / ((seconds + ATTACK_LEAD) * rounds), 1),
        "attack_requests_per_s_past_proxy": round(len(direct_record) / (seconds + ATTACK_LEAD), 1),
        "attacks": _attack_summary(proxied_record),
        "attacks_past_proxy": _attack_summary(direct_record),
    }


def markdown(result: dict[str, Any], command: str) -> str:
    """The figures as docs/wildcard-benchmarks.md."""
    phases = (
        ("alone", result["baseline"]),
        ("while the attackers go through the proxy", result["under_attack"]),
        (
            "while the same clients send as many requests nginx answers alone (control)",
            result["control"],
        ),
        ("while the attackers go straight to gunicorn", result["under_attack_past_proxy"]),
    )
    lines = [
        "# Normal queries while wildcard attacks run",
        "",
        f"`{command}`: {result['passages']:,} Reuters passages ({result['documents']:,} "
        f"documents), `briefing serve --workers 2` behind nginx (deploy/nginx/). {ANALYSTS} "
        f"analysts, each from its own loopback address, send normal queries every "
        f"{ANALYST_INTERVAL * 1000:g} ms through the proxy; {ATTACKERS} attackers, each from its "
        f"own address and kept-alive connection, loop over "
        f"{', '.join(f'`{q}`' for q in ATTACKS)} "
        + (
            f"at {result['attack_rate']:g} requests a second each"
            if result.get("attack_rate")
            else "back to back"
        )
        + (
            f" at niceness {result['attacker_niceness']} (a stand-in for attackers on other "
            "machines: their client work yields the cores; nginx's and the server's work for "
            "them does not)"
            if result["attacker_niceness"]
            else ""
        )
        + f". Quiet and attacked phases alternate, {len(result['rounds'])} rounds of "
        "the same length; the straight-to-gunicorn phase runs once, last. Client and servers "
        "share the 2 cores.",
        "",
        "Each round (p50 / p99 ms of the normal queries; attack requests per second):",
        "",
        "| round | alone | under attack through the proxy | attack requests/s | control: as "
        "many requests nginx answers alone | control requests/s |",
        "| ---: | --- | --- | ---: | --- | ---: |",
    ]
    for n, r in enumerate(result["rounds"], 1):
        a, u, c = r["alone"], r["under_attack"], r["control"]
        lines.append(
            f"| {n} | {a['p50_ms']} / {a['p99_ms']} | {u['p50_ms']} / {u['p99_ms']} "
            f"| {r['attack_requests_per_s']} | {c['p50_ms']} / {c['p99_ms']} "
            f"| {r['control_requests_per_s']} |"
        )
    quiet_p99 = [r["alone"]["p99_ms"] for r in result["rounds"]]
    lines += [
        "",
        f"Noise: the quiet rounds' p99 spans {min(quiet_p99)}–{max(quiet_p99)} ms. All rounds "
        "pooled:",
        "",
        "| normal queries | n | errors | p50 ms | p95 ms | p99 ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label, r in phases:
        lines.append(
            f"| {label} | {r['n']} | {r['errors']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} |"
        )
    for title, key in (
        ("Attacks through the proxy", "attacks"),
        ("Attacks straight to gunicorn", "attacks_past_proxy"),
    ):
        lines += ["", f"{title}:", "", "| attack | statuses | median ms | max ms |"]
        lines.append("| --- | --- | ---: | ---: |")
        for q, e in result[key].items():
            statuses = ", ".join(f"{k}×{v}" for k, v in sorted(e["statuses"].items()))
            lines.append(f"| `{q}` | {statuses} | {e['median_ms']} | {e['max_ms']} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its report."""
    parser = argparse.ArgumentParser(prog="python -m bench.wildcard_load")
    parser.add_argument("--passages", type=int, default=20_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=3, help="Quiet/attacked alternations.")
    parser.add_argument(
        "--attacker-nice", type=int, default=0, help="Niceness of the attacker processes."
    )
    parser.add_argument(
        "--attack-rate",
        type=float,
        default=0.0,
        help="Requests a second per attacker (0: back to back, as fast as the client goes).",
    )
    parser.add_argument("--out", default="docs/wildcard-benchmarks.md")
    args = parser.parse_args(argv)
    result = run(args.passages, args.seconds, args.rounds, args.attacker_nice, args.attack_rate)
    print(json.dumps(result, indent=2))
    command = (
        f"python -m bench.wildcard_load --passages {args.passages} --seconds {args.seconds:g} "
        f"--rounds {args.rounds}"
        + (f" --attacker-nice {args.attacker_nice}" if args.attacker_nice else "")
        + (f" --attack-rate {args.attack_rate:g}" if args.attack_rate else "")
    )
    Path(args.out).write_text(markdown(result, command), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
