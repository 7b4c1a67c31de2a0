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
const wanted = new URLSearchParams(window.location.search).get("passage");

function passageSection(doc, passage, text, index) {
  const item = { ...passage, title: passage.title || doc.title, source: passage.source || doc.source, date: passage.date || doc.date };
  const current = passage.passage_id === wanted;
  const id = `passage-${index + 1}`;
  const section = el(
    "section",
    {
      id,
      class: `passage${current ? " is-current" : ""}`,
      "aria-label": `Passage ${index + 1}${current ? " (selected)" : ""}`,
      "aria-current": current ? "true" : undefined,
      tabindex: "-1",
      dataset: { passageId: passage.passage_id },
    },
    el("p", { class: "passage-text", text }),
  );
  const tags = el(
    "div",
    { class: "passage-tags" },
    el("a", {
      class: "passage-link",
      href: documentUrl(doc.doc_id, passage.passage_id),
      title: "Link to this passage",
      "aria-label": `Link to passage ${index + 1}`,
      text: `¶ ${index + 1}`,
    }),
    chips(passage.countries, passage.topics),
  );
  const actions = el("div", { class: "passage-actions" }, citationButton(item), similarPassages(passage.passage_id));
  section.append(tags, actions);
  return section;
}

/** Split the full text at the passages' offsets; text outside passages is shown plainly. */
function renderBody(doc) {
  const text = doc.text || "";
  const passages = [...(doc.passages || [])].sort((a, b) => (a.ordinal ?? 0) - (b.ordinal ?? 0));
  const usable = passages.every(
    (p) => Number.isInteger(p.start) && Number.isInteger(p.end) && p.start >= 0 && p.end <= text.length && p.start <= p.end,
  );
  const nodes = [];
  let cursor = 0;
  passages.forEach((passage, i) => {
    let body = passage.text || "";
    if (usable && text) {
      const start = Math.max(passage.start, cursor);
      const gap = text.slice(cursor, start);
      if (gap.trim()) nodes.push(el("p", { class: "between", text: gap.trim() }));
      body = text.slice(start, passage.end);
      cursor = Math.max(cursor, passage.end);
    }
    nodes.push(passageSection(doc, passage, body.trim(), i));
  });
  if (usable && text.slice(cursor).trim()) nodes.push(el("p", { class: "between", text: text.slice(cursor).trim() }));
  if (!passages.length && text) nodes.push(el("p", { class: "passage-text", text }));
  return nodes;
}

async function load() {
  const article = $("doc");
  try {
    const [doc] = await Promise.all([getJson(`/api/documents/${encodePath(docId)}?include=text`), loadVocabulary()]);
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
    $("doc-body").replaceChildren(...renderBody(doc));
    article.removeAttribute("aria-busy");
    const target = wanted && [...document.querySelectorAll(".passage")].find((s) => s.dataset.passageId === wanted);
    if (target) {
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
