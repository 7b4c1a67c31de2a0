// Shared helpers for the search page and the document view.
// Rule: text from the API goes in through textContent; only a hit's `highlight`
// (escaped by the server, with <mark> around matches) is ever inserted as HTML.

/** Create an element with attributes, text and children. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, "");
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** An API failure with the server's message. */
export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** The API's error body as one sentence: its message plus each field's complaints. */
function errorMessage(body) {
  if (!body || typeof body.message !== "string") return "";
  const details = [];
  for (const [field, messages] of Object.entries(body.errors || {})) {
    const list = Array.isArray(messages) ? messages.flat(3) : [messages];
    for (const message of list) if (typeof message === "string") details.push(`${field}: ${message}`);
  }
  return details.length ? `${body.message} (${details.join("; ")})` : body.message;
}

/** GET a JSON API path; throws ApiError with the server's message on failure. */
export async function getJson(path, { signal } = {}) {
  let response;
  try {
    response = await fetch(path, { signal, headers: { Accept: "application/json" } });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError("The search service could not be reached. Check your connection and retry.", 0);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    throw new ApiError(errorMessage(body) || response.statusText || `HTTP ${response.status}`, response.status);
  }
  return body;
}

/** Encode a doc id or passage id for a path, keeping its slashes as separators. */
export function encodePath(id) {
  return String(id).split("/").map(encodeURIComponent).join("/");
}

/** The document view URL for a document, optionally at a passage. */
export function documentUrl(docId, passageId, query = "") {
  const params = new URLSearchParams();
  if (passageId) params.set("passage", passageId);
  // The query that led here: the document view marks its matches.
  if (query && query.trim()) params.set("q", query.trim());
  const search = params.toString();
  return `/documents/${encodePath(docId)}${search ? `?${search}` : ""}`;
}

// Human labels for facet values: from the API's facet buckets, else the browser's region names.
// One map per facet, made as facets appear (the server declares them: /api/facets definitions).
const labels = {};
// Facets whose values are ISO country codes: the browser can name them when the API has not.
const COUNTRY_FACETS = new Set(["country", "subject_countries"]);
let regionNames = null;
try {
  regionNames = new Intl.DisplayNames(["en"], { type: "region" });
} catch {
  regionNames = null;
}

/** Remember the labels of facet buckets ({country: [{value, label}], ...}). */
export function learnLabels(facets) {
  for (const [name, buckets] of Object.entries(facets || {})) {
    if (!Array.isArray(buckets)) continue;
    labels[name] = labels[name] || new Map();
    for (const bucket of buckets) {
      if (bucket.label && bucket.label !== bucket.value) labels[name].set(bucket.value, bucket.label);
    }
  }
}

let vocabulary = null;
/** Load every facet label once per page (GET /api/facets); failures only cost nicer labels. */
export function loadVocabulary() {
  if (!vocabulary) {
    vocabulary = getJson("/api/facets")
      .then((data) => learnLabels(data))
      .catch(() => undefined);
  }
  return vocabulary;
}

/** The label to show for a facet value. */
export function labelFor(facet, value) {
  const known = labels[facet] && labels[facet].get(value);
  if (known) return known;
  if (COUNTRY_FACETS.has(facet) && regionNames && /^[A-Z]{2}$/.test(value)) {
    try {
      return regionNames.of(value) || value;
    } catch {
      return value;
    }
  }
  return value;
}

/** A row of country and topic chips; with hrefFor, each chip links to a filtered search. */
export function chips(countries, topics, hrefFor) {
  const list = el("ul", { class: "chips", "aria-label": "Tags" });
  const add = (facet, value) => {
    const label = labelFor(facet, value);
    const title = `${facet === "country" ? "Country" : "Topic"}: ${label}`;
    const inner = hrefFor
      ? el("a", { href: hrefFor(facet, value), title: `Filter by ${label}`, text: label })
      : el("span", { title, text: label });
    list.append(el("li", { class: `chip chip-${facet}` }, inner));
  };
  for (const code of countries || []) add("country", code);
  for (const topic of topics || []) add("topic", topic);
  return list;
}

/** "12 March 2024" for an ISO date; "Undated" when missing. */
export function formatDate(iso) {
  if (!iso) return "Undated";
  const date = new Date(`${iso}T00:00:00Z`);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleDateString("en-GB", { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
}

/** Metadata line: date · source (· byline). */
export function metaLine(item, { byline = false } = {}) {
  const parts = [el("time", { datetime: item.date || undefined, text: formatDate(item.date) })];
  if (item.source) parts.push(el("span", { class: "source", text: item.source }));
  if (byline && item.byline) parts.push(el("span", { class: "byline", text: item.byline }));
  if (item.page) parts.push(el("span", { class: "page", text: pageLabel(item) }));
  const line = [];
  parts.forEach((part, i) => {
    if (i) line.push(el("span", { class: "sep", "aria-hidden": "true", text: "·" }));
    line.push(part);
  });
  return line;
}

/** Say something to screen readers through the page's polite live region. */
export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  window.setTimeout(() => {
    region.textContent = message;
  }, 50);
}

/** "p. 4", or "pp. 4–5" for a passage across a page break (paged documents only). */
export function pageLabel(item) {
  if (!item.page) return "";
  return item.page_end && item.page_end !== item.page ? `pp. ${item.page}–${item.page_end}` : `p. ${item.page}`;
}

/** The citation for a passage: title, source, date, passage id and link. */
export function citation(item) {
  const link = new URL(documentUrl(item.doc_id, item.passage_id), window.location.origin).href;
  const parts = [`“${item.title || item.doc_id}”`];
  if (item.source) parts.push(item.source);
  parts.push(item.date || "undated");
  if (item.page) parts.push(pageLabel(item));
  parts.push(`passage ${item.passage_id}`);
  return `${parts.join(", ")}. ${link}`;
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // fall through to the selection fallback
    }
  }
  const area = el("textarea", { class: "offscreen", readonly: true, "aria-hidden": "true" });
  area.value = text;
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

/** A "Copy citation" button for a passage. */
export function citationButton(item) {
  const button = el("button", { type: "button", class: "button small", text: "Copy citation" });
  button.dataset.citation = citation(item);
  button.addEventListener("click", async () => {
    const ok = await copyText(button.dataset.citation);
    button.textContent = ok ? "Copied ✓" : "Copy failed";
    announce(ok ? "Citation copied to the clipboard" : "Could not copy; select the text instead");
    window.setTimeout(() => {
      button.textContent = "Copy citation";
    }, 2000);
  });
  return button;
}

function shorten(text, max = 220) {
  const clean = String(text || "").replace(/\s+/g, " ").trim();
  if (clean.length <= max) return clean;
  const cut = clean.lastIndexOf(" ", max);
  return `${clean.slice(0, cut > max * 0.6 ? cut : max)}…`;
}

/** A disclosure that loads "similar passages" for a passage the first time it opens. */
export function similarPassages(passageId) {
  const body = el("div", { class: "similar-body", "aria-live": "polite" });
  const details = el(
    "details",
    { class: "similar" },
    el("summary", { class: "button small", text: "Similar passages" }),
    body,
  );
  let loaded = false;
  details.addEventListener("toggle", async () => {
    if (!details.open || loaded) return;
    loaded = true;
    body.replaceChildren(el("p", { class: "muted", text: "Loading…" }));
    try {
      const data = await getJson(`/api/passages/${encodePath(passageId)}/similar?limit=5`);
      const items = data.similar || [];
      if (!items.length) {
        body.replaceChildren(el("p", { class: "muted", text: "No similar passages." }));
        return;
      }
      body.replaceChildren(
        el(
          "ol",
          { class: "similar-list" },
          items.map((item) =>
            el(
              "li",
              {},
              el("a", { href: documentUrl(item.doc_id, item.passage_id), text: item.title || item.doc_id }),
              el("span", { class: "meta" }, metaLine(item)),
              el("p", { class: "similar-text", text: shorten(item.text) }),
            ),
          ),
        ),
      );
    } catch (err) {
      loaded = false;
      body.replaceChildren(el("p", { class: "error-text", text: `Could not load similar passages: ${err.message}` }));
    }
  });
  return details;
}

/** Make `/` focus the search box (or call onSlash) unless the user is typing somewhere. */
export function bindSlash(onSlash) {
  document.addEventListener("keydown", (event) => {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    const tag = target && target.tagName;
    if (target && (target.isContentEditable || tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT")) return;
    event.preventDefault();
    onSlash();
  });
}
