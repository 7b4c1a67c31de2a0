"""Why a tag is there: the evidence behind each country and topic of a text.

`explain_tags(text)` is what `briefing tag --explain` prints and what the API can return for
`?explain=tags`: for every country the spans that named it (offsets into `text`, the alias or
place matched, the rule that turned it into a country, where in the document it stood), and for
every topic the weighted terms that added up to it.
"""

from __future__ import annotations

from typing import Any

from index.tagging import topic_tagger
from index.tagging.subjects import analyze


def _where(start: int, analysis: Any) -> str:
    """Which part of the document an offset falls in: headline, dateline, lead or body."""
    if analysis.headline and analysis.headline[0] <= start < analysis.headline[1]:
        return "headline"
    if analysis.dateline and analysis.dateline.start <= start < analysis.dateline.end:
        return "dateline"
    if analysis.lead and analysis.lead[0] <= start < analysis.lead[1]:
        return "lead"
    return "body"


def explain_tags(text: str, title: str | None = None) -> dict[str, Any]:
    """Countries (every one and the subject ones, with evidence) and topics (with terms) of text.

    title, when known, locates the headline (as in `analyze`); offsets are into text.
    """
    analysis = analyze(text, title)
    topics = topic_tagger()
    evidence: dict[str, list[dict[str, Any]]] = {code: [] for code in analysis.countries}
    dateline = analysis.dateline
    if dateline is not None:
        evidence.setdefault(dateline.code, []).append(
            {
                "start": dateline.start,
                "end": dateline.end,
                "text": text[dateline.start : dateline.end],
                "alias": dateline.place,
                "rule": "dateline",
                "detail": f"{dateline.how} → country",
                "where": "dateline",
            }
        )
    for m in analysis.matches:
        evidence.setdefault(m.code, []).append(
            {
                "start": m.start,
                "end": m.end,
                "text": text[m.start : m.end],
                "alias": m.alias,
                "rule": m.rule,
                "detail": "in capitals, read in title case" if m.caps else None,
                "where": _where(m.start, analysis),
            }
        )
    subjects = set(analysis.subject_countries)
    countries = [
        {
            "code": code,
            "subject": code in subjects,
            "score": analysis.scores.get(code, 0.0),
            "evidence": sorted(evidence[code], key=lambda e: e["start"]),
        }
        for code in analysis.countries
    ]
    tags = topics.tag(text)
    scores = topics.scores(text)
    terms: dict[str, list[dict[str, Any]]] = {}
    for hit in topics.evidence(text):
        terms.setdefault(hit.pop("topic"), []).append({**hit, "rule": "topic term"})
    return {
        "countries": countries,
        "subject_countries": analysis.subject_countries,
        "topics": [
            {
                "id": tid,
                "label": topics.labels[tid],
                "score": round(scores[tid], 3),
                "evidence": terms.get(tid, []),
            }
            for tid in tags
        ],
        "dateline": None
        if dateline is None
        else {"place": dateline.place, "code": dateline.code, "agency": dateline.agency},
    }
