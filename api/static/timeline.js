// The timeline: the search's date histogram as an inline SVG bar chart. Each bar is a link
// (keyboard and screen readers reach it, its label says the month and the count); a click sets
// the date range to that bar, a drag across bars to the span they cover.
const SVG = "http://www.w3.org/2000/svg";
const HEIGHT = 64;
const LABEL_HEIGHT = 14;
const GAP = 1;
const numbers = new Intl.NumberFormat("en");
const monthName = new Intl.DateTimeFormat("en", { month: "long", year: "numeric", timeZone: "UTC" });

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

/** "March 2025" for a month bucket, else "2025-03-03 to 2025-03-09" (or the year). */
export function bucketName(bucket) {
  if (bucket.start.endsWith("-01-01") && bucket.end.endsWith("-12-31")) return bucket.start.slice(0, 4);
  if (bucket.start.endsWith("-01") && bucket.start.slice(0, 7) === bucket.end.slice(0, 7)) {
    return monthName.format(new Date(`${bucket.start}T00:00:00Z`));
  }
  return `${bucket.start} to ${bucket.end}`;
}

/**
 * Draw buckets into figure (its <svg> and caption are replaced). `state` gives the current
 * date range (bars inside it are marked), `hrefFor(from, to)` the link of a range and
 * `onRange(from, to)` is called for a click or a drag.
 */
export function renderTimeline(figure, buckets, { state, hrefFor, onRange, unit = "passages" }) {
  const bars = buckets || [];
  figure.hidden = bars.length === 0;
  if (!bars.length) return;
  const max = Math.max(1, ...bars.map((b) => b.count));
  const width = Math.max(bars.length * 12, 240);
  const step = width / bars.length;
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${HEIGHT + LABEL_HEIGHT}`,
    preserveAspectRatio: "none",
    class: "timeline-chart",
    role: "group",
    "aria-labelledby": "timeline-caption",
  });
  const from = state.date_from || "";
  const to = state.date_to || "";
  bars.forEach((bucket, i) => {
    const h = bucket.count ? Math.max(2, (bucket.count / max) * HEIGHT) : 0;
    const inside = (from || to) && (!from || bucket.end >= from) && (!to || bucket.start <= to);
    const link = svg("a", {
      href: hrefFor(bucket.start, bucket.end),
      class: `timeline-bar${inside ? " is-selected" : ""}`,
      "data-index": i,
      "aria-label": `${bucketName(bucket)}: ${numbers.format(bucket.count)} ${bucket.count === 1 ? unit.replace(/s$/, "") : unit}`,
    });
    // A full-height hit area, so thin and empty bars can still be clicked and dragged over.
    link.append(
      svg("rect", { x: i * step, y: 0, width: step, height: HEIGHT, class: "timeline-hit" }),
      svg("rect", { x: i * step + GAP / 2, y: HEIGHT - h, width: Math.max(step - GAP, 1), height: h, class: "timeline-fill" }),
    );
    const title = svg("title");
    title.textContent = `${bucketName(bucket)}: ${numbers.format(bucket.count)}`;
    link.append(title);
    chart.append(link);
  });
  // The first and last bucket's years under the chart.
  const first = svg("text", { x: 0, y: HEIGHT + LABEL_HEIGHT - 2, class: "timeline-axis", "aria-hidden": "true" });
  first.textContent = bars[0].start.slice(0, 7);
  const last = svg("text", { x: width, y: HEIGHT + LABEL_HEIGHT - 2, class: "timeline-axis", "text-anchor": "end", "aria-hidden": "true" });
  last.textContent = bars[bars.length - 1].end.slice(0, 7);
  chart.append(first, last);
  figure.querySelector("svg")?.remove();
  figure.append(chart);
  bindDrag(chart, bars, onRange);
}

function barAt(event) {
  const node = document.elementFromPoint(event.clientX, event.clientY);
  const bar = node && node.closest ? node.closest("[data-index]") : null;
  return bar ? Number(bar.getAttribute("data-index")) : null;
}

/** A click picks one bar; pressing on one bar and releasing on another picks the span. */
function bindDrag(chart, bars, onRange) {
  let anchor = null;
  let dragged = false;
  chart.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    anchor = barAt(event);
    dragged = false;
  });
  chart.addEventListener("pointermove", (event) => {
    if (anchor === null) return;
    const here = barAt(event);
    if (here === null) return;
    const lo = Math.min(anchor, here);
    const hi = Math.max(anchor, here);
    dragged = dragged || here !== anchor;
    for (const bar of chart.querySelectorAll("[data-index]")) {
      const i = Number(bar.getAttribute("data-index"));
      bar.classList.toggle("is-dragging", dragged && i >= lo && i <= hi);
    }
  });
  chart.addEventListener("pointerup", (event) => {
    const start = anchor;
    anchor = null;
    const end = barAt(event);
    if (start === null || end === null || end === start) return;
    const lo = Math.min(start, end);
    const hi = Math.max(start, end);
    onRange(bars[lo].start, bars[hi].end);
  });
  chart.addEventListener("click", (event) => {
    if (dragged) {
      // The drag already set the range; its release may click a bar or the chart itself.
      dragged = false;
      event.preventDefault();
      return;
    }
    const bar = event.target.closest("[data-index]");
    if (!bar || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    const bucket = bars[Number(bar.getAttribute("data-index"))];
    onRange(bucket.start, bucket.end);
  });
}
