// "Save this search" on the results page: the search in the URL becomes a saved search
// (POST /api/alerts). A server that needs a write key says so (401/403): the form then asks
// for it and keeps it for this tab only (sessionStorage), never in the page's URL.
import { announce, el } from "./common.js";

const KEY_STORE = "briefing-api-key";
const definitions = JSON.parse(document.getElementById("facet-definitions").textContent);
const $ = (id) => document.getElementById(id);

/** The search in the page's URL as an alert body: q and every filter under its API name. */
function currentSearch() {
  const params = new URLSearchParams(window.location.search);
  const body = { q: params.get("q") || "" };
  const lists = definitions.map((d) => d.param).filter(Boolean).concat(["doc_id"]);
  for (const name of lists) {
    const values = params.getAll(name).flatMap((v) => v.split(",")).map((v) => v.trim()).filter(Boolean);
    if (values.length) body[name] = values;
  }
  for (const name of ["date_from", "date_to", "match"]) {
    if (params.get(name)) body[name] = params.get(name);
  }
  return body;
}

function setStatus(...parts) {
  const status = $("save-status");
  status.replaceChildren(...parts);
  status.hidden = parts.length === 0;
}

async function save(event) {
  event.preventDefault();
  const name = $("save-name").value.trim();
  const key = $("save-key").value.trim() || sessionStorage.getItem(KEY_STORE) || "";
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  let response;
  let body = null;
  try {
    response = await fetch("/api/alerts", {
      method: "POST",
      headers,
      body: JSON.stringify({ name, ...currentSearch() }),
    });
    body = await response.json();
  } catch {
    setStatus("The search service could not be reached. Try again.");
    return;
  }
  if (response.status === 401 || response.status === 403) {
    sessionStorage.removeItem(KEY_STORE);
    $("save-key-field").hidden = false;
    $("save-key").focus();
    setStatus("Saving searches needs an API key on this server: enter it and save again.");
    return;
  }
  if (!response.ok) {
    setStatus((body && body.message) || `Could not save (HTTP ${response.status}).`);
    return;
  }
  if (key) sessionStorage.setItem(KEY_STORE, key);
  $("save-key-field").hidden = true;
  const parts = [`Saved “${body.name}”. New matching passages will show under `, el("a", { href: "/alerts", text: "Alerts" }), "."];
  if (body.too_broad) {
    parts.push(` This search would have matched about ${body.estimated_per_day} passages a day: it may be too broad to alert on.`);
  }
  setStatus(...parts);
  announce(`Saved search ${body.name}`);
}

function open() {
  const form = $("save-form");
  form.hidden = false;
  const name = $("save-name");
  if (!name.value) name.value = new URLSearchParams(window.location.search).get("q") || "All passages";
  setStatus();
  name.focus();
  name.select();
}

$("save-search").addEventListener("click", open);
$("save-form").addEventListener("submit", save);
$("save-cancel").addEventListener("click", () => {
  $("save-form").hidden = true;
  $("save-search").focus();
});
