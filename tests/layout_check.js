// The report's layout as laid out by the browser (run by tests/test_report_browser.py):
// elements outside the viewport with no horizontal scroll box around them, table cells that
// overlap their right neighbour or whose content overflows them, and model names (the first
// cell of a leaderboard row) that wrap onto more than one line.
const vw = document.documentElement.clientWidth;
function scroller(el) {
  for (let a = el.parentElement; a; a = a.parentElement) {
    const s = getComputedStyle(a).overflowX;
    if (s === "auto" || s === "scroll") return a;
  }
  return null;
}
function label(el) {
  return el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
         (el.className && typeof el.className === "string" ? "." + el.className.split(" ").join(".") : "") +
         ": " + (el.textContent || "").trim().slice(0, 40);
}
const overflow = [];
for (const el of document.body.querySelectorAll("*")) {
  for (const r of el.getClientRects()) {
    if (r.width === 0 || r.height === 0) continue;
    if ((r.right > vw + 1 || r.left < -1) && !scroller(el)) {
      overflow.push(label(el) + ` [${Math.round(r.left)}, ${Math.round(r.right)}] > ${vw}`);
      break;
    }
  }
}
const overlaps = [], clipped = [];
for (const tr of document.querySelectorAll("tr")) {
  const cells = Array.from(tr.children);
  for (let i = 0; i + 1 < cells.length; i++) {
    const a = cells[i].getBoundingClientRect(), b = cells[i + 1].getBoundingClientRect();
    if (a.right > b.left + 1) overlaps.push(label(cells[i]) + " | " + label(cells[i + 1]));
  }
  for (const c of cells) {
    if (c.scrollWidth > c.clientWidth + 1) clipped.push(label(c) + ` ${c.scrollWidth}>${c.clientWidth}`);
  }
}
const broken = [];
for (const td of document.querySelectorAll("table.leaderboard td:first-child, table.across td:first-child")) {
  const range = document.createRange();
  range.selectNodeContents(td);
  const lines = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top)));
  if (lines.size > 1) broken.push(label(td));
}
return {
  overflow: overflow.slice(0, 20), overlaps: overlaps.slice(0, 20), clipped: clipped.slice(0, 20),
  broken_names: broken.slice(0, 20), tables: document.querySelectorAll("table").length,
  page: document.documentElement.scrollWidth, vw: vw,
};
