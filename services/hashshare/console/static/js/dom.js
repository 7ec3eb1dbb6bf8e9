// Building DOM nodes without innerHTML: every text from the API lands as text, never markup.
const SVG_NS = 'http://www.w3.org/2000/svg';

function fill(el, attrs, children) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'text') el.textContent = String(value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function h(tag, attrs = {}, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

export function s(tag, attrs = {}, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

let fieldIds = 0;
/** A labelled form control: returns [label, control]. */
export function field(labelText, control) {
  if (!control.id) control.id = `f${++fieldIds}`;
  return [h('label', { for: control.id, text: labelText }), control];
}

export function status(value) {
  return h('span', { class: `status ${value}`, text: value });
}

export function when(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? String(value) : d.toISOString().replace('T', ' ').slice(0, 19) + 'Z';
}

export function table(caption, headers, rows, numeric = []) {
  return h('table', {},
    caption ? h('caption', { class: 'muted', text: caption }) : null,
    h('thead', {}, h('tr', {}, headers.map((t, i) => h('th', { scope: 'col', class: numeric.includes(i) ? 'num' : null, text: t })))),
    h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((c, i) => h('td', { class: numeric.includes(i) ? 'num' : null }, c))))),
  );
}

export function banner(kind, ...children) {
  return h('div', { class: `banner ${kind}`, role: kind === 'bad' ? 'alert' : 'status' }, ...children);
}

export function errorText(err) {
  if (err && err.code) return `${err.message} (${err.code}, HTTP ${err.status})`;
  return String(err && err.message ? err.message : err);
}

/** Replace an element's children, skipping null/false (the DOM would print them as text). */
export function put(el, ...children) {
  el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}
