// The search page: reads its state from the URL, asks GET /api/search, renders the answer.
import {
  announce,
  bindSlash,
  chips,
  citationButton,
  documentUrl,
  el,
  getJson,
  labelFor,
  learnLabels,
  loadVocabulary,
  metaLine,
  similarPassages,
} from "./common.js";
import { recordSearch, renderHistory } from "./history.js";
import { renderTimeline } from "./timeline.js";

// The facets as the server declares them (search/facet_registry.py): {name, title, param, multi}.
// A facet without a parameter of its own (years) filters through date_from/date_to.
const FACETS = JSON.parse(document.getElementById("facet-definitions").textContent);
const LIST_KEYS = FACETS.filter((f) => f.param).map((f) => f.param);
/** The state with every facet filter cleared. */
const noFacetFilters = () => Object.fromEntries(LIST_KEYS.map((key) => [key, []]));
const PER_PAGE = 10;
const FACET_SIZE = 50;
const FACET_VISIBLE = 8;
const numbers = new Intl.NumberFormat("en");

const $ = (id) => document.getElementById(id);
const form = $("search-form");
const input = $("q");
const main = $("main");
const expanded = new Set(); // facets whose "show more" is open

// ---- state <-> URL ---------------------------------------------------------------------------

/** The page state from a query string. */
function readState(search = window.location.search) {
  const params = new URLSearchParams(search);
  const list = (key) => [
    ...new Set(params.getAll(key).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean)),
  ];
  const page = Number.parseInt(params.get("page") || "1", 10);
  const perPage = Number.parseInt(params.get("per_page") || "", 10);
  return {
    q: params.get("q") || "",
    // Country codes are upper case wherever they are shown or compared.
    ...Object.fromEntries(LIST_KEYS.map((key) => [key, key === "country" ? list(key).map((c) => c.toUpperCase()) : list(key)])),
    date_from: params.get("date_from") || "",
    date_to: params.get("date_to") || "",
    sort: params.get("sort") || "",
    // How many words are required: "" (the graded rule), "all" or "any".
    match: ["all", "any"].includes(params.get("match")) ? params.get("match") : "",
    // "false" asks for the words as typed, not a spelling correction's results.
    autocorrect: params.get("autocorrect") === "false" ? "false" : "",
    page: Number.isFinite(page) && page > 0 ? page : 1,
    per_page: Number.isFinite(perPage) && perPage > 0 ? perPage : null,
    // The page groups passages by document unless the URL says group=passage.
    group: params.get("group") === "passage" ? "passage" : "",
  };
}

/** The query string for a state, defaults left out so URLs stay short. */
function toParams(state) {
  const params = new URLSearchParams();
  if (state.q) params.set("q", state.q);
  for (const key of LIST_KEYS) for (const value of state[key]) params.append(key, value);
  if (state.date_from) params.set("date_from", state.date_from);
  if (state.date_to) params.set("date_to", state.date_to);
  if (state.sort && state.sort !== "relevance") params.set("sort", state.sort);
  if (state.match) params.set("match", state.match);
  if (state.autocorrect) params.set("autocorrect", state.autocorrect);
  if (state.page > 1) params.set("page", String(state.page));
  if (state.per_page) params.set("per_page", String(state.per_page));
  if (state.group) params.set("group", state.group);
  return params;
}

/** The export of the current search: every match, not this page. */
function exportHref(state, format) {
  const params = toParams({ ...state, page: 1, per_page: null, group: "" });
  params.set("format", format);
  if (format === "csv") params.set("bom", "true");
  return `/api/export?${params}`;
}

/** How a search reads in the history list: its words, then its filters. */
function historyLabel(state) {
  const parts = [state.q.trim() || "All passages"];
  for (const key of LIST_KEYS) if (state[key].length) parts.push(`${key}: ${state[key].join(", ")}`);
  if (state.date_from || state.date_to) parts.push(`${state.date_from || "…"} to ${state.date_to || "…"}`);
  return parts.join(" · ");
}

function pageHref(state) {
  const query = toParams(state).toString();
  return query ? `/?${query}` : "/";
}

function activeFilters(state) {
  return LIST_KEYS.reduce((n, key) => n + state[key].length, 0) + (state.date_from ? 1 : 0) + (state.date_to ? 1 : 0);
}

/** Go to a new state: one history entry, then search. */
function navigate(state, { focusResults = false } = {}) {
  const href = pageHref(state);
  if (href === window.location.pathname + window.location.search) {
    run({ focusResults });
    return;
  }
  history.replaceState({ ...(history.state || {}), scrollY: window.scrollY }, "");
  history.pushState({ scrollY: 0 }, "", href);
  run({ focusResults, scrollTop: focusResults });
}

function withChange(change) {
  // A new query starts with the graded rule and spelling correction again.
  const fresh = "q" in change ? { match: "", autocorrect: "" } : {};
  return { ...readState(), page: 1, ...fresh, ...change };
}

// ---- searching -------------------------------------------------------------------------------

let inflight = null;
let busyTimer = 0;

async function run({ focusResults = false, scrollTop = false, restoreScroll = null } = {}) {
  const state = readState();
  syncControls(state);
  if (inflight) inflight.abort();
  const controller = new AbortController();
  inflight = controller;
  main.setAttribute("aria-busy", "true");
  window.clearTimeout(busyTimer);
  busyTimer = window.setTimeout(() => main.classList.add("is-loading"), 150);
  const params = toParams(state);
  if (!state.per_page) params.set("per_page", String(PER_PAGE));
  params.set("facet_size", String(FACET_SIZE));
  params.set("group", state.group || "document");
  params.set("histogram", "month");
  try {
    const [data] = await Promise.all([
      getJson(`/api/search?${params}`, { signal: controller.signal }),
      loadVocabulary(),
    ]);
    if (controller !== inflight) return;
    learnLabels(data.facets);
    render(state, data);
    if (state.q.trim() || activeFilters(state)) {
      recordSearch(toParams({ ...state, page: 1 }).toString(), historyLabel(state));
      renderHistory($("history"));
    }
  } catch (err) {
    if (err.name === "AbortError" || controller !== inflight) return;
    renderError(state, err);
  } finally {
    if (controller === inflight) {
      inflight = null;
      window.clearTimeout(busyTimer);
      main.classList.remove("is-loading");
      main.removeAttribute("aria-busy");
    }
  }
  if (restoreScroll !== null) window.scrollTo(0, restoreScroll);
  else if (scrollTop) window.scrollTo(0, 0);
  if (focusResults) $("results-heading").focus({ preventScroll: true });
}

// ---- rendering -------------------------------------------------------------------------------

function syncControls(state) {
  if (document.activeElement !== input || input.value.trim() === "") input.value = state.q;
  $("date-from").value = state.date_from;
  $("date-to").value = state.date_to;
  const sort = $("sort");
  sort.querySelector('option[value="relevance"]').disabled = !state.q.trim();
  sort.value = state.sort || (state.q.trim() ? "relevance" : "newest");
  const perPage = $("per-page");
  const wantedPerPage = String(state.per_page || PER_PAGE);
  if (![...perPage.options].some((o) => o.value === wantedPerPage)) perPage.append(el("option", { value: wantedPerPage, text: wantedPerPage }));
  perPage.value = wantedPerPage;
  $("by-document").checked = state.group !== "passage";
  $("export-csv").href = exportHref(state, "csv");
  $("export-jsonl").href = exportHref(state, "jsonl");
  const count = activeFilters(state);
  const badge = $("filter-count");
  badge.hidden = count === 0;
  badge.textContent = String(count);
  const clear = $("clear-filters");
  clear.hidden = count === 0;
  clear.href = pageHref({ ...state, ...noFacetFilters(), date_from: "", date_to: "", page: 1 });
  document.title = state.q ? `${state.q} · Briefing Search` : "Briefing Search";
}

function heading(state, data) {
  if (state.q.trim()) return `Results for “${state.q.trim()}”`;
  return data.sort === "oldest" ? "All passages, oldest first" : "Latest passages";
}

function render(state, data) {
  $("results-heading").textContent = heading(state, data);
  $("sort").value = data.sort || $("sort").value;
  const summary = $("summary");
  const total = data.total || 0;
  const took = typeof data.took_ms === "number" ? ` in ${numbers.format(Math.round(data.took_ms * 10) / 10)} ms` : "";
  const passages = `${numbers.format(total)} passage${total === 1 ? "" : "s"}`;
  const docs = data.total_documents;
  const counted = typeof docs === "number" ? `${numbers.format(docs)} document${docs === 1 ? "" : "s"} (${passages})` : passages;
  summary.textContent =
    total === 0
      ? `No passages${took}`
      : `${counted}${took}` +
        (data.pages > 1 ? ` · page ${numbers.format(data.page)} of ${numbers.format(data.pages)}` : "");
  renderTimeline($("timeline"), data.histogram, {
    state,
    hrefFor: (from, to) => pageHref(withChange({ date_from: from, date_to: to })),
    onRange: (from, to) => navigate(withChange({ date_from: from, date_to: to })),
  });

  const notice = $("notice");
  const info = data.query_info || {};
  notice.hidden = !(info.fallback && info.message);
  notice.textContent = info.fallback && info.message ? `Note: ${info.message}.` : "";

  renderReading(state, info);

  const suggestion = $("suggestion");
  suggestion.replaceChildren();
  suggestion.hidden = !data.suggestion;
  if (info.showing_results_for) {
    // The typed words found nothing and the correction did: its results are shown.
    suggestion.append(
      "Showing results for ",
      el("strong", { text: info.showing_results_for }),
      "; search instead for ",
      el("a", {
        href: pageHref({ ...state, autocorrect: "false", page: 1 }),
        "data-nav": true,
        text: state.q.trim(),
      }),
    );
  } else if (data.suggestion) {
    suggestion.append(
      "Did you mean ",
      el("a", { href: pageHref(withChange({ q: data.suggestion })), "data-nav": true, text: data.suggestion }),
      "?",
    );
  }

  renderFacets(state, data);
  renderHits(state, data);
  renderPagination(data);
  announce(summary.textContent);
}

/** Say how many of the words a passage needed, with links to require all or allow any. */
function renderReading(state, info) {
  const reading = $("reading");
  reading.replaceChildren();
  const match = info.match;
  const link = (text, value) =>
    el("a", { href: pageHref({ ...state, match: value, page: 1 }), "data-nav": true, text });
  if (info.relaxed_from) {
    const from = info.relaxed_from;
    // The server says why (its threshold included); the link asks for every word after all.
    const why = info.message || `showing passages with any of your ${from.of} words`;
    reading.append(`${why[0].toUpperCase()}${why.slice(1)} — `, link("require all", "all"));
  } else if (match && match.mode === "at_least") {
    reading.append(
      `Showing passages with at least ${match.required} of your ${match.of} words — `,
      link("require all", "all"),
      " / ",
      link("allow any", "any"),
    );
  } else if (match && state.match === "all" && match.of > 1) {
    reading.append(`Showing passages with all ${match.of} of your words — `, link("allow some to be missing", ""));
  } else if (match && state.match === "any" && match.of > 1) {
    reading.append(`Showing passages with any of your ${match.of} words — `, link("require most", ""));
  }
  reading.hidden = reading.childNodes.length === 0;
}

/** Insert the server's highlight: only text and <mark> survive, whatever the string holds. */
function highlightNode(html) {
  const parsed = new DOMParser().parseFromString(`<body>${html}</body>`, "text/html");
  const out = document.createDocumentFragment();
  for (const node of parsed.body.childNodes) {
    if (node.nodeType === Node.ELEMENT_NODE && node.nodeName === "MARK") {
      out.append(el("mark", { text: node.textContent }));
    } else {
      out.append(document.createTextNode(node.textContent));
    }
  }
  return out;
}

function chipHref(facet, value) {
  const state = readState();
  const values = state[facet].includes(value) ? state[facet] : [...state[facet], value];
  return pageHref({ ...state, [facet]: values, page: 1 });
}

/** A grouped hit's other top passages, each a link into the document, and how many matched. */
function morePassages(hit, state) {
  const others = (hit.passages || []).slice(1);
  const box = el("div", { class: "more-passages" });
  if (!hit.passages) return box;
  if (others.length) {
    box.append(
      el(
        "ul",
        { class: "passage-list" },
        others.map((p) => {
          const snippet = el("a", { href: documentUrl(p.doc_id, p.passage_id, state.q), class: "passage-snippet" });
          snippet.append(highlightNode(p.highlight || p.text || ""));
          return el("li", {}, snippet);
        }),
      ),
    );
  }
  const matched = hit.matched_passages || 1;
  if (matched > 1) {
    box.append(el("p", { class: "muted small", text: `${numbers.format(matched)} matching passages in this document` }));
  }
  return box;
}

function renderHits(state, data) {
  const list = $("hits");
  const box = $("state");
  const hits = data.hits || [];
  list.replaceChildren(
    ...hits.map((hit, i) => {
      const titleId = `hit-${i}`;
      const snippet = el("p", { class: "snippet" });
      snippet.append(highlightNode(hit.highlight || hit.text || ""));
      const chipList = chips(hit.countries, hit.topics, chipHref);
      for (const link of chipList.querySelectorAll("a")) link.dataset.nav = "";
      return el(
        "li",
        { class: "hit" },
        el(
          "article",
          { "aria-labelledby": titleId },
          el(
            "h2",
            { class: "hit-title" },
            el("a", { id: titleId, href: documentUrl(hit.doc_id, hit.passage_id, state.q), text: hit.title || hit.doc_id }),
          ),
          el("p", { class: "meta" }, metaLine(hit)),
          snippet,
          morePassages(hit, state),
          chipList,
          el("div", { class: "hit-actions" }, citationButton(hit), similarPassages(hit.passage_id)),
        ),
      );
    }),
  );

  box.replaceChildren();
  box.hidden = hits.length > 0;
  box.className = "state";
  if (hits.length) return;
  if ((data.total || 0) > 0) {
    box.append(
      el("h2", { text: "This page is past the end" }),
      el("p", {}, el("a", { href: pageHref({ ...state, page: data.pages }), "data-nav": true, text: "Go to the last page" })),
    );
    return;
  }
  const filtered = activeFilters(state) > 0;
  if (!state.q.trim() && !filtered) {
    box.append(
      el("h2", { text: "Nothing indexed yet" }),
      el("p", { text: "Add documents to the briefings folder; they become searchable within seconds." }),
    );
    return;
  }
  const tips = el("ul", { class: "tips" });
  const diagnosis = (data.query_info || {}).diagnosis;
  if (diagnosis && diagnosis.relaxed) {
    const relaxed = diagnosis.relaxed;
    const next = { ...state, ...noFacetFilters(), ...relaxed.filters, q: relaxed.q, date_from: relaxed.date_from || "", date_to: relaxed.date_to || "", page: 1 };
    tips.append(
      el(
        "li",
        { class: "relaxed" },
        "Try ",
        el("a", { href: pageHref(next), "data-nav": true, text: relaxed.q || "all passages" }),
        ` without ${relaxed.dropped} (${numbers.format(relaxed.total)} passage${relaxed.total === 1 ? "" : "s"})`,
      ),
    );
  }
  if (diagnosis && diagnosis.terms.length > 1) {
    tips.append(
      el(
        "li",
        { class: "diagnosis" },
        "Alone: ",
        diagnosis.terms.map((t) => `${t.term} ${numbers.format(t.matches)}`).join(" · "),
      ),
    );
  }
  for (const f of (diagnosis && diagnosis.filters) || []) {
    tips.append(el("li", { class: "diagnosis", text: `Without ${f.filter} ${f.value}: ${numbers.format(f.matches)} passages` }));
  }
  if (filtered) {
    tips.append(
      el(
        "li",
        {},
        el("a", {
          href: pageHref({ ...state, ...noFacetFilters(), date_from: "", date_to: "", page: 1 }),
          "data-nav": true,
          text: "Search without filters",
        }),
      ),
    );
  }
  if (state.q.trim()) {
    tips.append(el("li", { text: "Check the spelling, or use fewer or more general words." }));
    tips.append(el("li", { text: "Try OR between alternatives, e.g. protest OR strike." }));
    tips.append(el("li", {}, el("a", { href: "/", "data-nav": true, text: "Browse the latest passages" })));
  }
  box.append(
    el("h2", { text: state.q.trim() ? `No passages match “${state.q.trim()}”` : "No passages match these filters" }),
    tips,
  );
}

function renderError(state, err) {
  $("results-heading").textContent = state.q.trim() ? `Results for “${state.q.trim()}”` : "Search";
  $("summary").textContent = "";
  $("hits").replaceChildren();
  $("pagination").hidden = true;
  $("suggestion").hidden = true;
  $("notice").hidden = true;
  $("reading").hidden = true;
  const box = $("state");
  box.className = "state is-error";
  box.hidden = false;
  const retry = el("button", { type: "button", class: "button", text: "Try again" });
  retry.addEventListener("click", () => run());
  const title = err.status >= 400 && err.status < 500 ? "That search could not be run" : "Search failed";
  box.replaceChildren(el("h2", { text: title }), el("p", { text: err.message }), retry);
  box.setAttribute("role", "alert");
  announce(`${title}: ${err.message}`);
}

// Year checkboxes stand for a date range: a year is ticked when the range covers all of it.
function yearBounds(state) {
  return {
    from: state.date_from || "0000-01-01",
    to: state.date_to || "9999-12-31",
    any: Boolean(state.date_from || state.date_to),
  };
}

function yearChecked(state, year) {
  const { from, to, any } = yearBounds(state);
  return any && from <= `${year}-01-01` && `${year}-12-31` <= to;
}

function toggleYear(state, year, checked, years) {
  const ticked = years.filter((y) => yearChecked(state, y)).map(Number);
  const y = Number(year);
  let lo;
  let hi;
  if (checked) {
    const all = [...ticked, y];
    lo = Math.min(...all);
    hi = Math.max(...all);
  } else {
    if (ticked.length <= 1) return { date_from: "", date_to: "" };
    lo = Math.min(...ticked);
    hi = Math.max(...ticked);
    if (y === lo) lo += 1;
    else hi = y - 1;
  }
  return { date_from: `${lo}-01-01`, date_to: `${hi}-12-31` };
}

function renderFacets(state, data) {
  const container = $("facets");
  const focused = document.activeElement;
  const focusKey = focused && focused.dataset && focused.dataset.facet ? `${focused.dataset.facet}\u0000${focused.dataset.value || ""}` : null;
  const groups = [];
  for (const { name, title, param } of FACETS) {
    let buckets = (data.facets && data.facets[name]) || [];
    if (!param) {
      buckets = buckets.map((b) => ({ ...b, selected: yearChecked(state, b.value) }));
    } else {
      // A ticked value always stays visible, even when it matches nothing now.
      const present = new Set(buckets.map((b) => b.value));
      const missing = state[param].filter((v) => !present.has(v));
      buckets = [
        ...buckets,
        ...missing.map((value) => ({ value, label: labelFor(name, value), count: 0, selected: true })),
      ];
    }
    if (!buckets.length) continue;
    const isOpen = expanded.has(name);
    const visible = isOpen ? buckets : buckets.filter((b, i) => i < FACET_VISIBLE || b.selected);
    const list = el(
      "ul",
      { class: "facet-list" },
      visible.map((bucket) => {
        const box = el("input", {
          type: "checkbox",
          checked: Boolean(bucket.selected),
          dataset: { facet: param || name, value: bucket.value },
        });
        const label = !param ? bucket.value : bucket.label || labelFor(name, bucket.value);
        return el(
          "li",
          {},
          el(
            "label",
            { class: `facet-option${bucket.count === 0 ? " is-empty" : ""}` },
            box,
            el("span", { class: "facet-label", text: label }),
            // The count is read out with its unit; aria-label on a plain span would be ignored.
            el("span", { class: "count", text: numbers.format(bucket.count) }),
            el("span", { class: "visually-hidden", text: bucket.count === 1 ? " passage" : " passages" }),
          ),
        );
      }),
    );
    const fieldset = el("fieldset", { class: "facet" }, el("legend", { text: title }), list);
    if (buckets.length > FACET_VISIBLE) {
      const hidden = buckets.length - visible.length;
      const more = el("button", {
        type: "button",
        class: "link-button",
        "aria-expanded": String(isOpen),
        dataset: { more: name },
        text: isOpen ? "Show fewer" : `Show ${hidden} more`,
      });
      fieldset.append(more);
    }
    if (data.facets_truncated && data.facets_truncated[name]) {
      fieldset.append(el("p", { class: "muted small", text: `Top ${FACET_SIZE} shown.` }));
    }
    groups.push(fieldset);
  }
  container.replaceChildren(...groups);
  if (focusKey) {
    for (const node of container.querySelectorAll("[data-facet]")) {
      if (`${node.dataset.facet}\u0000${node.dataset.value}` === focusKey) node.focus({ preventScroll: true });
    }
  }
  container.dataset.years = JSON.stringify(((data.facets && data.facets.year) || []).map((b) => b.value));
}

function renderPagination(data) {
  const nav = $("pagination");
  const pages = data.pages || 1;
  const current = Math.min(data.page || 1, Math.max(pages, 1));
  nav.replaceChildren();
  nav.hidden = pages <= 1 || !(data.hits || []).length;
  if (nav.hidden) return;
  const state = readState();
  const link = (page, text, attrs = {}) =>
    el("a", { href: pageHref({ ...state, page }), "data-nav": true, "data-page": page, class: "page-link", text, ...attrs });
  const items = [];
  items.push(
    current > 1
      ? link(current - 1, "← Previous", { rel: "prev" })
      : el("span", { class: "page-link is-disabled", "aria-disabled": "true", text: "← Previous" }),
  );
  const wanted = new Set([1, pages, current - 1, current, current + 1].filter((p) => p >= 1 && p <= pages));
  let last = 0;
  for (const page of [...wanted].sort((a, b) => a - b)) {
    if (page - last > 1) items.push(el("span", { class: "gap", "aria-hidden": "true", text: "…" }));
    items.push(
      page === current
        ? el("span", { class: "page-link is-current", "aria-current": "page", text: String(page) })
        : link(page, String(page), { "aria-label": `Page ${page}` }),
    );
    last = page;
  }
  items.push(
    current < pages
      ? link(current + 1, "Next →", { rel: "next" })
      : el("span", { class: "page-link is-disabled", "aria-disabled": "true", text: "Next →" }),
  );
  nav.append(el("ul", {}, items.map((item) => el("li", {}, item))));
}

// ---- events ----------------------------------------------------------------------------------

form.addEventListener("submit", (event) => {
  event.preventDefault();
  navigate(withChange({ q: input.value.trim() }), { focusResults: false });
});

$("facets").addEventListener("change", (event) => {
  const box = event.target.closest("input[data-facet]");
  if (!box) return;
  const state = readState();
  const { facet, value } = box.dataset;
  if (facet === "year") {
    const years = JSON.parse($("facets").dataset.years || "[]");
    navigate(withChange(toggleYear(state, value, box.checked, years)));
    return;
  }
  const values = state[facet].filter((v) => v !== value);
  if (box.checked) values.push(value);
  navigate(withChange({ [facet]: values }));
});

$("facets").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-more]");
  if (!button) return;
  const name = button.dataset.more;
  if (expanded.has(name)) expanded.delete(name);
  else expanded.add(name);
  run();
});

for (const [id, key] of [
  ["date-from", "date_from"],
  ["date-to", "date_to"],
]) {
  $(id).addEventListener("change", (event) => {
    const value = event.target.value;
    if (value && !/^\d{4}-\d{2}-\d{2}$/.test(value)) return;
    navigate(withChange({ [key]: value }));
  });
}

$("sort").addEventListener("change", (event) => {
  navigate(withChange({ sort: event.target.value }));
});

$("by-document").addEventListener("change", (event) => {
  navigate(withChange({ group: event.target.checked ? "" : "passage" }));
});

$("per-page").addEventListener("change", (event) => {
  const value = Number.parseInt(event.target.value, 10);
  navigate(withChange({ per_page: value === PER_PAGE ? null : value }));
});

// Links that only change the page state (pagination, chips, suggestion) stay in the page.
document.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-nav]");
  if (!link || event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  const url = new URL(link.href, window.location.href);
  const next = readState(url.search);
  navigate(next, { focusResults: link.hasAttribute("data-page") });
});

window.addEventListener("popstate", (event) => {
  const y = event.state && typeof event.state.scrollY === "number" ? event.state.scrollY : 0;
  run({ restoreScroll: y });
});

renderHistory($("history"));

bindSlash(() => {
  input.focus();
  input.select();
});

// Filters collapse into a disclosure on narrow screens.
const narrow = window.matchMedia("(max-width: 760px)");
const filters = $("filters");
const fitFilters = () => {
  filters.open = !narrow.matches;
  filters.classList.add("is-fitted");
};
narrow.addEventListener("change", fitFilters);
fitFilters();

if ("scrollRestoration" in history) history.scrollRestoration = "manual";
const initialScroll = history.state && typeof history.state.scrollY === "number" ? history.state.scrollY : null;
window.addEventListener("pagehide", () => {
  history.replaceState({ ...(history.state || {}), scrollY: window.scrollY }, "");
});
run({ restoreScroll: initialScroll });
