// Search history: the last searches (query and filters) kept in this browser's localStorage,
// listed under the search box, newest first, clearable. Nothing leaves the browser.
import { el } from "./common.js";

const KEY = "briefing-search-history";
// As many as an analyst's day of searches; the list folds away under its summary.
export const HISTORY_SIZE = 50;

/** The stored searches, newest first: [{query: "q=…&country=…", q, label, at}]. */
export function loadHistory() {
  try {
    const items = JSON.parse(window.localStorage.getItem(KEY) || "[]");
    return Array.isArray(items) ? items.filter((i) => i && typeof i.query === "string") : [];
  } catch {
    return []; // storage off or corrupt: no history, never an error
  }
}

function save(items) {
  try {
    window.localStorage.setItem(KEY, JSON.stringify(items.slice(0, HISTORY_SIZE)));
  } catch {
    // Storage full or disabled: the history is a convenience, the search goes on.
  }
}

/** Remember one search (its query string without paging); a repeat moves to the top. */
export function recordSearch(query, label) {
  if (!query) return;
  const items = loadHistory().filter((i) => i.query !== query);
  items.unshift({ query, label, at: new Date().toISOString() });
  save(items);
}

export function clearHistory() {
  try {
    window.localStorage.removeItem(KEY);
  } catch {
    // nothing stored
  }
}

/** Fill the <details> under the search box with the history (hidden when there is none). */
export function renderHistory(container, { onClear } = {}) {
  const items = loadHistory();
  // Invisible, not removed, while empty: its line is kept so the page never moves for it.
  container.classList.toggle("is-empty", items.length === 0);
  if (!items.length) container.open = false;
  const list = container.querySelector("ol");
  const count = container.querySelector("[data-history-count]");
  count.textContent = String(items.length);
  list.replaceChildren(
    ...items.map((item) =>
      el("li", {}, el("a", { href: `/?${item.query}`, "data-nav": true, class: "history-link", text: item.label || item.query })),
    ),
  );
  const clear = container.querySelector("[data-history-clear]");
  clear.onclick = () => {
    clearHistory();
    renderHistory(container, { onClear });
    if (onClear) onClear();
  };
}
