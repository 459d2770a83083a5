// Small DOM helpers shared by the trading page's modules. Server data only ever goes in as text.

export const $ = (id) => document.getElementById(id);

export function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "—";
  if (className) td.className = className;
  return td;
}

export function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells);
  return tr;
}

export const timeOf = (iso) => new Date(iso).toLocaleTimeString([], { hour12: false });
export const dateTimeOf = (iso) => new Date(iso).toLocaleString([], { hour12: false });
export const label = (text) => text.charAt(0).toUpperCase() + text.slice(1).replace(/_/g, " ");

/** Batches renders to the next animation frame: a burst of stream messages redraws each part once.
 * `renderers` maps a part's name to the function that draws it. */
export function frameRenderer(renderers) {
  let queued = new Set();
  const flush = () => {
    const parts = queued;
    queued = new Set();
    for (const part of parts) renderers[part]();
  };
  return (part) => {
    if (!queued.size) requestAnimationFrame(flush);
    queued.add(part);
  };
}
