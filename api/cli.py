"""The `briefing` command: index, docs, tag, search, serve, watch, eval."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

import search  # noqa: F401  (Whoosh warning filters first)
from api.settings import load_settings
from search.facet_registry import FacetRegistry, default_registry
from search.querying import MATCH_MODES
from search.results import SORTS


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _index_dir_option(func: Any) -> Any:
    return click.option(
        "--index-dir",
        type=click.Path(file_okay=False),
        default=lambda: load_settings()["INDEX_DIR"],
        show_default="var/index or BRIEFING_INDEX_DIR",
        help="Whoosh index directory.",
    )(func)


def _docs_option(func: Any) -> Any:
    return click.option(
        "--docs",
        type=click.Path(file_okay=False),
        default=lambda: load_settings()["DOCS_DIR"],
        show_default="seeds or BRIEFING_DOCS_DIR",
        help="Documents folder.",
    )(func)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log progress and skipped files.")
def main(verbose: bool) -> None:
    """Briefing Search: index briefing documents and search them."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def require_semantic_model() -> None:
    """Stop with a clear message when semantic rescoring is on but its model is missing."""
    from search.embedding import EmbeddingUnavailable, model_dir

    try:
        model_dir()
    except EmbeddingUnavailable as exc:
        raise click.ClickException(str(exc)) from exc


def run_sync(docs_dir: str, index_dir: str, show_progress: bool) -> Any:
    """Sync index_dir with docs_dir, with a progress bar on a terminal."""
    from index.sync import IndexSyncer

    settings = load_settings()
    if settings["SEMANTIC"]:
        require_semantic_model()
    syncer = IndexSyncer(
        docs_dir,
        index_dir,
        max_bytes=settings["MAX_DOCUMENT_BYTES"],
        semantic=settings["SEMANTIC"],
    )
    if not show_progress:
        return syncer.sync_all()
    bar = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and total >= 20:
            bar = click.progressbar(length=total, label="indexing", file=sys.stderr)
            bar.__enter__()
        if bar is not None:
            bar.update(1)

    try:
        return syncer.sync_all(progress=progress)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)


@main.command("index")
@click.argument("docs_dir", required=False, type=click.Path(file_okay=False, exists=True))
@_index_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def index_command(docs_dir: str | None, index_dir: str, as_json: bool) -> None:
    """Sync the index with DOCS_DIR: new files added, changed replaced, removed deleted."""
    docs = docs_dir or load_settings()["DOCS_DIR"]
    report = run_sync(docs, index_dir, show_progress=sys.stderr.isatty() and not as_json)
    data = report.to_json()
    if as_json:
        _echo_json(data)
        return
    click.echo(
        f"{data['documents']} documents, {data['passages']} passages: "
        f"{data['added']} added, {data['updated']} updated, {data['removed']} removed, "
        f"{data['unchanged']} unchanged, {len(report.skipped)} skipped ({data['seconds']}s)"
    )
    for item in report.skipped:
        click.echo(f"  skipped {item['path']}: {item['reason']}")


@main.command("docs")
@_index_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def docs_command(index_dir: str, as_json: bool) -> None:
    """List indexed documents with their metadata and tags."""
    from search.searching import SearchEngine

    engine = SearchEngine(index_dir)
    listing = engine.documents(page=1, per_page=10**9).documents
    rows: list[dict[str, Any]] = [
        {
            "doc_id": d.doc_id,
            "title": d.title,
            "date": d.date,
            "source": d.source,
            "byline": d.byline,
            "passages": d.passages,
            **d.tags,
        }
        for d in listing
    ]
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        click.echo(
            f"{row['doc_id']}  {row['date'] or '—'}  {row['title']}  "
            f"[{','.join(row['countries'])}] [{','.join(row['topics'])}]"
        )


@main.command("tag")
@click.option("--jsonl", is_flag=True, default=True, help="JSON lines in and out (the default).")
@click.option("--explain", is_flag=True, help="Add each tag's evidence (spans, aliases, rules).")
def tag_command(jsonl: bool, explain: bool) -> None:
    """Tag {"id","text"} lines from stdin with countries, subject countries and topics."""
    from index.tagging.cli import tag_stream

    tag_stream(sys.stdin, sys.stdout, explain=explain)


@main.command("eval-tags")
@click.option("--gold", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def eval_tags_command(gold: str, as_json: bool) -> None:
    """Micro P/R/F1 of subject_countries and countries against a gold JSONL file."""
    from index.tagging.evaluation import evaluate, format_report

    try:
        result = evaluate(Path(gold))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if as_json:
        _echo_json(result)
    else:
        click.echo(format_report(result))


def page_label(page: int, page_end: int | None) -> str:
    """A citation's page part: "p. 4", or "pp. 4–5" for a passage across a page break."""
    return f"pp. {page}–{page_end}" if page_end and page_end != page else f"p. {page}"


def make_search_command(facets: FacetRegistry) -> click.Command:
    """`briefing search` with a repeatable option per facet filter of the registry."""

    def search_command(query: str, index_dir: str, **options: Any) -> None:
        """Search passages and print the results."""
        import re

        from api.schemas import ApiSchemas
        from index.tagging import topic_tagger
        from search.errors import SearchError
        from search.facet_registry import unknown_values
        from search.searching import SearchEngine, SearchRequest

        as_json = options.pop("as_json")
        filters: dict[str, list[str]] = {}
        for facet in facets.filters():
            assert facet.param is not None
            wanted = list(options.pop(facet.param.replace("-", "_")))
            unknown = unknown_values(facet, wanted)
            if unknown:
                raise click.BadParameter(
                    f"unknown {facet.value_noun}(s): {', '.join(unknown)}",
                    param_hint=f"--{facet.param.replace('_', '-')}",
                )
            filters[facet.param] = [v for v in map(facet.normalize, wanted) if v is not None]
        sort = options.pop("sort")
        doc_ids = list(options.pop("doc_id"))
        engine = SearchEngine(
            index_dir, topic_tagger().labels, semantic=load_settings()["SEMANTIC"], facets=facets
        )
        request = SearchRequest(
            q=query,
            filters=filters,
            doc_id=doc_ids,
            sort=sort if query.strip() or sort != "relevance" else "newest",
            **options,
        )
        try:
            result = engine.search(request)
        except SearchError as exc:
            raise click.UsageError(str(exc)) from exc
        if as_json:
            _echo_json(ApiSchemas.build(facets).search_response().dump(result))
            return
        info = result.query_info
        click.echo(f"{result.total} hits ({result.took_ms} ms)")
        if info.match is not None and info.match.mode == "at_least":
            click.echo(f"passages with at least {info.match.required} of {info.match.of} words")
        if info.message:
            click.echo(f"note: {info.message}")
        if info.showing_results_for:
            click.echo(f"showing results for: {info.showing_results_for}")
        elif result.suggestion:
            click.echo(f"did you mean: {result.suggestion}")
        if info.diagnosis is not None:
            for term in info.diagnosis.terms:
                click.echo(f"  {term.term}: {term.matches} alone")
            for flt in info.diagnosis.filters:
                click.echo(f"  without {flt.filter} {flt.value}: {flt.matches}")
            if info.diagnosis.relaxed is not None:
                relaxed = info.diagnosis.relaxed
                click.echo(f"try: {relaxed.q!r} without {relaxed.dropped} ({relaxed.total})")
        for hit in result.hits:
            snippet = re.sub(r"</?mark>", "**", hit.highlight)
            tags = " ".join(f"[{','.join(values)}]" for values in hit.tags.values())
            where = f", {page_label(hit.page, hit.page_end)}" if hit.page else ""
            click.echo(f"\n{hit.passage_id}  {hit.title}  ({hit.date or 'undated'}{where})")
            click.echo(f"  {tags}")
            click.echo(f"  {snippet}")
            if hit.explain is not None:
                parts = " + ".join(f"{t.term}[{t.field}] {t.score}" for t in hit.explain.terms)
                click.echo(f"  score {hit.score} = BM25 {hit.explain.bm25} ({parts})")
                if hit.explain.semantic is not None:
                    sem = hit.explain.semantic
                    click.echo(f"    + semantic {sem.score} = {sem.weight} x {sem.similarity}")

    command: Any = search_command
    decorators: list[Any] = [
        click.argument("query", required=False, default=""),
        _index_dir_option,
        *(
            click.option(
                f"--{(facet.param or '').replace('_', '-')}",
                multiple=True,
                help=f"{facet.description or facet.title}; repeatable.",
            )
            for facet in facets.filters()
        ),
        click.option("--doc-id", multiple=True, help="Only these documents; repeatable."),
        click.option("--sort", type=click.Choice(SORTS), default="relevance"),
        click.option(
            "--match",
            type=click.Choice(MATCH_MODES),
            default="auto",
            help="Words required: auto (graded), all or any.",
        ),
        click.option("--explain", is_flag=True, help="Break each hit's score down."),
        click.option("--page", type=click.IntRange(min=1), default=1),
        click.option("--per-page", type=click.IntRange(1, 100), default=10),
        click.option("--json", "as_json", is_flag=True, help="Print the API's JSON response."),
    ]
    for decorator in reversed(decorators):
        command = decorator(command)
    return click.command("search")(command)


main.add_command(make_search_command(default_registry()))


DEPLOY_DIR = Path(__file__).resolve().parent.parent / "deploy"


@main.command("serve")
@click.option("--host", default=lambda: load_settings()["HOST"], show_default="127.0.0.1")
@click.option("--port", type=int, default=lambda: load_settings()["PORT"], show_default="8000")
@click.option("--workers", type=click.IntRange(min=0), default=None, help="0: from CPU count.")
@_docs_option
@_index_dir_option
@click.option("--no-watch", is_flag=True, help="Do not run the folder watcher.")
@click.option(
    "--allow-anonymous-writes", is_flag=True, help="Write endpoints open when no key is set."
)
def serve_command(
    host: str,
    port: int,
    workers: int | None,
    docs: str,
    index_dir: str,
    no_watch: bool,
    allow_anonymous_writes: bool,
) -> None:
    """Sync the index with the folder, then serve the API and page with gunicorn."""
    import os

    Path(docs).mkdir(parents=True, exist_ok=True)
    report = run_sync(docs, index_dir, show_progress=sys.stderr.isatty())
    click.echo(
        f"index: {report.documents} documents, {report.passages} passages "
        f"({report.added} added, {report.updated} updated, {report.removed} removed)",
        err=True,
    )
    env = os.environ
    env["BRIEFING_DOCS_DIR"] = str(Path(docs).resolve())
    env["BRIEFING_INDEX_DIR"] = str(Path(index_dir).resolve())
    env["BRIEFING_HOST"] = host
    env["BRIEFING_PORT"] = str(port)
    if workers is not None:
        env["BRIEFING_WORKERS"] = str(workers)
    if no_watch:
        env["BRIEFING_WATCH"] = "false"
    if allow_anonymous_writes:
        env["BRIEFING_ALLOW_ANONYMOUS_WRITES"] = "true"
    # gunicorn's sync workers are held by slow clients: in production they sit behind a buffering
    # proxy (gunicorn's deployment guide). Said at every start, so nobody exposes this port bare.
    click.echo(
        f"serving http://{host}:{port} for development; in production put it behind the "
        f"buffering proxy in {DEPLOY_DIR / 'nginx'} (README: Deploy and operate)",
        err=True,
    )
    config = DEPLOY_DIR / "gunicorn.conf.py"
    argv = [sys.executable, "-m", "gunicorn", "-c", str(config)]
    # exec: gunicorn becomes this process, so signals (SIGTERM, SIGHUP) reach the master directly.
    os.execv(sys.executable, argv)


@main.command("watch")
@_docs_option
@_index_dir_option
@click.option(
    "--rescan-interval",
    type=click.FloatRange(min=1.0),
    default=lambda: load_settings()["RESCAN_INTERVAL"],
    show_default="60 or BRIEFING_RESCAN_INTERVAL",
    help="Seconds between full rescans, the safety net for missed events.",
)
def watch_command(docs: str, index_dir: str, rescan_interval: float) -> None:
    """Watch DOCS and keep the index in step: the single writer, for an API running elsewhere."""
    from index.watcher import main as watcher_main

    argv = ["--docs", docs, "--index-dir", index_dir, "--rescan-interval", str(rescan_interval)]
    sys.exit(watcher_main(argv))


@main.command("eval")
@click.option("--corpus", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--queries", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--qrels", required=True, type=click.Path(dir_okay=False, exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@click.option("--per-query", is_flag=True, help="Also print every query's figures.")
@click.option("--no-baseline", is_flag=True, help="Skip the plain BM25 baseline run.")
@click.option(
    "--semantic/--lexical",
    default=lambda: load_settings()["SEMANTIC"],
    show_default="BRIEFING_SEMANTIC",
    help="Index passage embeddings and rescore the top hits with them, as the server does "
    "with BRIEFING_SEMANTIC=true; --lexical ranks by BM25 alone.",
)
def eval_command(
    corpus: str,
    queries: str,
    qrels: str,
    as_json: bool,
    per_query: bool,
    no_baseline: bool,
    semantic: bool,
) -> None:
    """Score the ranking on a BEIR-layout collection (nDCG@10, Recall@100, MRR@10) vs BM25."""
    import tempfile

    from index.sync import IndexSyncer
    from search.evaluation import METRICS, evaluate, load_collection

    if semantic:
        require_semantic_model()
    collection = load_collection(corpus, queries, qrels)

    def index_folder(docs_dir: Path, index_dir: Path) -> None:
        # The documents' own pipeline: read, metadata, chunking, tagging, one writer.
        IndexSyncer(docs_dir, index_dir, semantic=semantic).sync_all()

    with tempfile.TemporaryDirectory(prefix="briefing-eval-") as tmp:
        report = evaluate(
            collection, index_folder, Path(tmp), baseline=not no_baseline, semantic=semantic
        )
    rows = report.pop("per_query")
    if as_json:
        if per_query:
            report["per_query"] = rows
        _echo_json(report)
        return
    click.echo(
        f"{report['queries']} queries over {report['documents']} documents "
        f"({report['passages']} passages), {report['qps']} queries/s; "
        f"ranking = BM25{' + semantic rescoring' if report['semantic'] else ''}; "
        f"document score = {report['aggregation']}"
    )
    base = report.get("baseline", {})
    for metric in METRICS:
        line = f"  {metric:<11} {report[metric]:.4f}"
        if base:
            line += f"   BM25 {base[metric]:.4f}   ratio {report['ratio'][metric]:.3f}"
        click.echo(line)
    if per_query:
        for qid, scores in rows.items():
            click.echo(f"{qid}\t" + "\t".join(f"{k}={v:.4f}" for k, v in scores.items()))


if __name__ == "__main__":
    main()
