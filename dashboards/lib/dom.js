// DOM construction for every view: no HTML is ever built from data (issue 25). Strings and
// numbers become text nodes, attributes are set one by one; nothing a run, a result file, a study
// or a user typed is parsed as markup.

/** A child: a Node as is, a string or number as a text node, null/undefined/false as nothing, arrays flattened. */
function nodes(children) {
  const out = [];
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    out.push(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return out;
}

// Links go to a view of this page (#...) or to this server (/...): never javascript: or elsewhere.
const safeHref = (v) => /^(#|\/(?!\/))/.test(v);

/**
 * el('td', { class: 'bad', title: r.error }, 'text', child, ...): an element with plain attributes.
 * attrs: class, style (an object of CSS properties), dataset (an object), any other plain
 * attribute by name; null/undefined/false values are left out. Event handlers (on*) are refused.
 */
export function el(tag, attrs, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === null || v === undefined || v === false) continue;
    if (/^on/i.test(k)) throw new Error(`el(${tag}): no event handler attributes (${k}); use addEventListener`);
    if (k === 'class') n.className = String(v);
    else if (k === 'style') Object.assign(n.style, v);
    else if (k === 'dataset') Object.assign(n.dataset, v);
    else if (k === 'href' && !safeHref(String(v))) continue;
    else n.setAttribute(k, v === true ? '' : String(v));
  }
  n.append(...nodes(children));
  return n;
}

/** Replace a node's children (strings as text). */
export function fill(node, ...children) {
  node.replaceChildren(...nodes(children));
  return node;
}

/** Remove every child. */
export const clear = (node) => fill(node);

/** Lines of text one under the other: a chart tooltip's content (ECharts appends a returned element as is). */
export const lines = (...parts) => el('div', null, parts.flatMap((p, i) => (i ? [el('br'), p] : [p])));

/** A table row of cells of one tag, each value as its text (as `${x}` would show it); a cell given as an element is used as is. */
export const row = (tag, cells, attrs) => el('tr', attrs, cells.map((c) => (c instanceof Node ? c : el(tag, null, String(c)))));
