// The document view: metadata, full text split into passages, the chosen passage highlighted.
import {
  bindSlash,
  chips,
  citationButton,
  documentUrl,
  el,
  encodePath,
  getJson,
  loadVocabulary,
  metaLine,
  similarPassages,
} from "./common.js";

const $ = (id) => document.getElementById(id);
const main = $("main");
const docId = main.dataset.docId;
const params = new URLSearchParams(window.location.search);
const wanted = params.get("passage");
// The query that led here (from a result link): its matches are marked in the text.
const query = (params.get("q") || "").trim();

/** The passage's number as its id says it (`…txt#5` is ¶ 5): one numbering everywhere. */
function ordinalOf(passage, index) {
  return Number.isInteger(passage.ordinal) ? passage.ordinal : index;
}

/** text[from:to] with the [start, end) spans inside it wrapped in <mark>, as DOM nodes. */
function marked(text, spans, from = 0, to = text.length) {
  const out = [];
  let cursor = from;
  for (const [start, end] of [...spans].sort((a, b) => a[0] - b[0])) {
    if (start < cursor || end > to) continue;
    out.push(text.slice(cursor, start), el("mark", { class: "query-match", text: text.slice(start, end) }));
    cursor = end;
  }
  out.push(text.slice(cursor, to));
  return out;
}

// A table row as the readers keep it: "cell | cell" (HTML, Word) or "| cell | cell |" (Markdown).
const TABLE_ROW = /\S\s*\|\s*\S|^\s*\|.*\|\s*$/;
// A Markdown table rule ("|---|:---:|"): layout, not content.
const TABLE_RULE = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;

/** A table row's cells as [start, end) offsets into text (outer pipes and spaces left out). */
function cells(text, start, end) {
  const out = [];
  let cellStart = start;
  for (let i = start; i <= end; i += 1) {
    if (i === end || text[i] === "|") {
      let a = cellStart;
      let b = i;
      while (a < b && /\s/.test(text[a])) a += 1;
      while (b > a && /\s/.test(text[b - 1])) b -= 1;
      if (!(i === end && a === b && out.length)) out.push([a, b]);
      cellStart = i + 1;
    }
  }
  // "| a | b |": the empty cells before the first and after the last pipe are not cells.
  if (out.length && out[0][0] === out[0][1] && /^\s*\|/.test(text.slice(start, end))) out.shift();
  return out;
}

/** A passage's text as a reader expects it: paragraphs as text, table rows as a table. */
function passageBody(text, spans) {
  const body = el("div", { class: "passage-text" });
  const lines = [];
  let offset = 0;
  for (const line of text.split("\n")) {
    lines.push([offset, offset + line.length]);
    offset += line.length + 1;
  }
  let i = 0;
  while (i < lines.length) {
    const isRow = (k) => k < lines.length && TABLE_ROW.test(text.slice(lines[k][0], lines[k][1]));
    if (isRow(i) && isRow(i + 1)) {
      const table = el("table", { class: "passage-table" });
      const tbody = el("tbody");
      let first = true;
      while (isRow(i)) {
        const [start, end] = lines[i];
        i += 1;
        if (TABLE_RULE.test(text.slice(start, end))) continue;
        const row = el("tr");
        for (const [a, b] of cells(text, start, end)) row.append(el(first ? "th" : "td", {}, marked(text, spans, a, b)));
        (first ? table : tbody).append(first ? el("thead", {}, row) : row);
        first = false;
      }
      table.append(tbody);
      body.append(table);
      continue;
    }
    const start = lines[i][0];
    while (i < lines.length && !(isRow(i) && isRow(i + 1))) i += 1;
    const end = Math.min(text.length, lines[i - 1][1] + (i < lines.length ? 1 : 0));
    body.append(...marked(text, spans, start, end));
  }
  return body;
}

function passageSection(doc, passage, text, index, spans) {
  const item = { ...passage, title: passage.title || doc.title, source: passage.source || doc.source, date: passage.date || doc.date };
  const current = passage.passage_id === wanted;
  const number = ordinalOf(passage, index);
  const id = `passage-${number}`;
  const section = el(
    "section",
    {
      id,
      class: `passage${current ? " is-current" : ""}`,
      "aria-label": `Passage ${number}${current ? " (selected)" : ""}`,
      "aria-current": current ? "true" : undefined,
      tabindex: "-1",
      dataset: { passageId: passage.passage_id },
    },
    passageBody(text, spans),
  );
  const tags = el(
    "div",
    { class: "passage-tags" },
    el("a", {
      class: "passage-link",
      href: documentUrl(doc.doc_id, passage.passage_id),
      title: "Link to this passage",
      "aria-label": `Link to passage ${number}`,
      text: `¶ ${number}`,
    }),
    chips(passage.countries, passage.topics),
  );
  const actions = el("div", { class: "passage-actions" }, citationButton(item), similarPassages(passage.passage_id));
  section.append(tags, actions);
  return section;
}

/** The passages in order, cut from the full text at their offsets.

Text outside every passage (header lines, dates, "image source from:…", boilerplate) is what the
metadata above already says, or noise: the document is shown as its metadata plus its passages. */
function renderBody(doc, matches) {
  const text = doc.text || "";
  const passages = [...(doc.passages || [])].sort((a, b) => (a.ordinal ?? 0) - (b.ordinal ?? 0));
  const usable = passages.every(
    (p) => Number.isInteger(p.start) && Number.isInteger(p.end) && p.start >= 0 && p.end <= text.length && p.start <= p.end,
  );
  const nodes = [];
  let cursor = 0;
  let shownPage = null;
  passages.forEach((passage, i) => {
    let body = passage.text || "";
    let shift = 0; // where the shown text starts within the passage's own text
    if (usable && text) {
      const start = Math.max(passage.start, cursor);
      body = text.slice(start, passage.end);
      shift = start - passage.start;
      cursor = Math.max(cursor, passage.end);
    }
    const lead = body.length - body.trimStart().length;
    const shown = body.trim();
    const spans = (matches.get(passage.passage_id) || [])
      .map(([s, e]) => [s - shift - lead, e - shift - lead])
      .filter(([s, e]) => s >= 0 && e <= shown.length);
    if (passage.page && passage.page !== shownPage) {
      // Paged documents (PDF): a marker where a new page begins, as the printed report has.
      nodes.push(el("p", { class: "page-break", role: "separator", "aria-label": `Page ${passage.page}`, text: `Page ${passage.page}` }));
      shownPage = passage.page_end || passage.page;
    }
    nodes.push(passageSection(doc, passage, shown, i, spans));
  });
  if (!passages.length && text) nodes.push(el("p", { class: "passage-text", text }));
  return nodes;
}

/** passage_id → match offsets of the query that led here, from the search API itself. */
async function queryMatches() {
  const found = new Map();
  if (!query) return found;
  const params = new URLSearchParams({ q: query, doc_id: docId, per_page: "100", autocorrect: "false" });
  try {
    const data = await getJson(`/api/search?${params}`);
    for (const hit of data.hits || []) found.set(hit.passage_id, hit.matches || []);
  } catch {
    // Marking is a help, not the document: show it unmarked rather than not at all.
  }
  return found;
}

/** "Previous / next match" controls that walk the marked matches in reading order. */
function matchNavigation() {
  const marks = [...document.querySelectorAll("mark.query-match")];
  const nav = $("match-nav");
  nav.hidden = marks.length === 0;
  if (!marks.length) return;
  let current = -1;
  const status = $("match-status");
  const go = (step) => {
    if (current >= 0) marks[current].classList.remove("is-active");
    current = (current + step + marks.length) % marks.length;
    const mark = marks[current];
    mark.classList.add("is-active");
    mark.scrollIntoView({ block: "center" });
    status.textContent = `Match ${current + 1} of ${marks.length}`;
  };
  status.textContent = `${marks.length} match${marks.length === 1 ? "" : "es"} for “${query}”`;
  $("match-prev").addEventListener("click", () => go(-1));
  $("match-next").addEventListener("click", () => go(1));
}

async function load() {
  const article = $("doc");
  if (query) $("q").value = query;
  try {
    const [doc, , matches] = await Promise.all([
      getJson(`/api/documents/${encodePath(docId)}?include=text`),
      loadVocabulary(),
      queryMatches(),
    ]);
    document.title = `${doc.title || doc.doc_id} · Briefing Search`;
    $("doc-title").textContent = doc.title || doc.doc_id;
    const count = (doc.passages || []).length;
    $("doc-meta").replaceChildren(
      ...metaLine(doc, { byline: true }),
      el("span", { class: "sep", "aria-hidden": "true", text: "·" }),
      el("span", { text: `${count} passage${count === 1 ? "" : "s"}` }),
      el("span", { class: "sep", "aria-hidden": "true", text: "·" }),
      el("code", { class: "doc-id", text: doc.doc_id }),
    );
    $("doc-tags").replaceChildren(chips(doc.countries, doc.topics, (facet, value) => `/?${facet}=${encodeURIComponent(value)}`));
    $("doc-body").replaceChildren(...renderBody(doc, matches));
    matchNavigation();
    article.removeAttribute("aria-busy");
    const target = wanted && [...document.querySelectorAll(".passage")].find((s) => s.dataset.passageId === wanted);
    if (target) {
      // The passage in view, with the document's title still above it where the page allows.
      target.scrollIntoView({ block: "center" });
      target.focus({ preventScroll: true });
    } else if (wanted) {
      const state = $("doc-state");
      state.hidden = false;
      state.replaceChildren(el("p", { text: `Passage “${wanted}” is not in this document any more; showing the whole document.` }));
    }
  } catch (err) {
    article.removeAttribute("aria-busy");
    $("doc-title").textContent = err.status === 404 ? "Document not found" : "Could not load the document";
    const state = $("doc-state");
    state.hidden = false;
    state.className = "state is-error";
    state.setAttribute("role", "alert");
    state.replaceChildren(
      el("p", { text: err.message }),
      el("p", {}, el("a", { href: "/", text: "Back to search" })),
    );
  }
}

// "Back to search" returns to the exact results the reader came from when there are any.
$("back-link").addEventListener("click", (event) => {
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  let sameSite = false;
  try {
    const ref = new URL(document.referrer);
    sameSite = ref.origin === window.location.origin && ref.pathname === "/";
  } catch {
    sameSite = false;
  }
  if (sameSite && history.length > 1) {
    event.preventDefault();
    history.back();
  }
});

bindSlash(() => {
  const box = $("q");
  if (box) {
    box.focus();
    box.select();
  }
});

load();
