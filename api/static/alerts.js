// The Alerts view: every saved search with its unseen hits; opening one shows its hits
// grouped by document (GET /api/alerts/<id>/hits) and marks them seen when this tab has a
// write key (PATCH … {"seen": true}). Text goes in as text; only highlights as marked HTML.
import { announce, documentUrl, el, formatDate, getJson, labelFor, loadVocabulary } from "./common.js";

const KEY_STORE = "briefing-api-key";
const $ = (id) => document.getElementById(id);
const FILTERS = [
  ["subject_country", "subject_countries", "About"],
  ["country", "country", "Mentions"],
  ["region", "regions", "Region"],
  ["topic", "topic", "Topic"],
  ["source", "source", "Source"],
];

/** Insert a server highlight: only text and <mark> survive. */
function highlightNode(html) {
  const parsed = new DOMParser().parseFromString(`<body>${html}</body>`, "text/html");
  const out = document.createDocumentFragment();
  for (const node of parsed.body.childNodes) {
    if (node.nodeType === Node.ELEMENT_NODE && node.nodeName === "MARK") out.append(el("mark", { text: node.textContent }));
    else out.append(document.createTextNode(node.textContent));
  }
  return out;
}

function describe(alert) {
  const parts = [alert.q ? `“${alert.q}”` : "every passage"];
  for (const [param, facet, title] of FILTERS) {
    const values = alert[param] || [];
    if (values.length) parts.push(`${title}: ${values.map((v) => labelFor(facet, v)).join(", ")}`);
  }
  if (alert.date_from || alert.date_to) parts.push(`dates ${alert.date_from || "…"} – ${alert.date_to || "…"}`);
  return parts.join(" · ");
}

function item(alert) {
  const unseen = alert.unseen ? el("span", { class: "badge alert-unseen", text: `${alert.unseen} new` }) : null;
  const open = el("button", { type: "button", class: "link-button alert-open", "aria-controls": "alert-hits", dataset: { id: alert.id } }, alert.name);
  open.addEventListener("click", () => showHits(alert));
  const facts = [`${alert.hits} ${alert.hits === 1 ? "hit" : "hits"}`];
  if (alert.last_hit_at) facts.push(`last ${formatDate(alert.last_hit_at.slice(0, 10))}`);
  return el(
    "li",
    { class: "alert-item", dataset: { id: alert.id } },
    el("div", { class: "alert-head" }, el("h2", { class: "alert-name" }, open), unseen),
    el("p", { class: "muted small" }, describe(alert), " — ", facts.join(", ")),
    alert.too_broad ? el("p", { class: "small alert-broad", text: `Broad: about ${alert.estimated_per_day} matches a day.` }) : null,
    el(
      "p",
      { class: "small alert-links" },
      el("a", { href: alert.links.search, text: "Open search" }),
      " · ",
      el("a", { href: `/alerts/${alert.id}.atom`, text: "Atom feed", type: "application/atom+xml" }),
    ),
  );
}

async function markSeen(alert) {
  const key = sessionStorage.getItem(KEY_STORE);
  if (!key || !alert.unseen) return;
  const response = await fetch(`/api/alerts/${alert.id}`, {
    method: "PATCH",
    headers: { "Content-Type": "application/json", Authorization: `Bearer ${key}` },
    body: JSON.stringify({ seen: true }),
  }).catch(() => null);
  if (response && response.ok) {
    const badge = document.querySelector(`.alert-item[data-id="${alert.id}"] .alert-unseen`);
    if (badge) badge.remove();
  }
}

async function showHits(alert) {
  const section = $("alert-hits");
  section.hidden = false;
  section.setAttribute("aria-busy", "true");
  $("hits-heading").textContent = `Hits for ${alert.name}`;
  const list = $("alert-documents");
  try {
    const data = await getJson(`/api/alerts/${alert.id}/hits`);
    list.replaceChildren(
      ...data.documents.map((doc) =>
        el(
          "li",
          { class: "alert-document" },
          el("h3", { class: "hit-title" }, el("a", { href: documentUrl(doc.doc_id, doc.passages[0].passage_id, alert.q), text: doc.title || doc.doc_id })),
          el("p", { class: "muted small", text: [doc.date ? formatDate(doc.date) : null, `matched ${formatDate(doc.matched_at.slice(0, 10))}`].filter(Boolean).join(" · ") }),
          ...doc.passages.map((hit) => el("p", { class: "snippet" }, highlightNode(hit.highlight))),
        ),
      ),
    );
    $("hits-empty").hidden = data.documents.length > 0;
    announce(`${data.passages} hits for ${alert.name}`);
    await markSeen(alert);
  } catch (err) {
    list.replaceChildren();
    $("hits-empty").hidden = false;
    $("hits-empty").textContent = err.message;
  } finally {
    section.removeAttribute("aria-busy");
    $("hits-heading").focus();
  }
}

async function load() {
  const main = $("main");
  await loadVocabulary();
  try {
    const data = await getJson("/api/alerts");
    $("alert-list").replaceChildren(...data.alerts.map(item));
    const unseen = data.alerts.reduce((sum, a) => sum + a.unseen, 0);
    $("summary").textContent = data.alerts.length
      ? `${data.alerts.length} saved ${data.alerts.length === 1 ? "search" : "searches"}, ${unseen} new ${unseen === 1 ? "hit" : "hits"}`
      : "No saved searches yet. Run a search and choose “Save this search”.";
  } catch (err) {
    $("summary").textContent = err.message;
  } finally {
    main.removeAttribute("aria-busy");
  }
}

load();
