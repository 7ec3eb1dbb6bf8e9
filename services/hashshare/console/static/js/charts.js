// Bar charts as SVG built in the page: no library, no outside asset. Each chart also
// carries its figures as a table for screen readers and for copying.
import { h, s } from './dom.js';

const WIDTH = 460;

function dataTable(label, rows) {
  return h('details', { class: 'data' }, h('summary', { text: `Figures: ${label}` }),
    h('table', {}, h('thead', {}, h('tr', {}, h('th', { scope: 'col', text: 'Item' }), h('th', { scope: 'col', class: 'num', text: 'Count' }))),
      h('tbody', {}, rows.map(([k, v]) => h('tr', {}, h('td', { text: k }), h('td', { class: 'num', text: v.toLocaleString() }))))));
}

/** Horizontal bars: one per [label, value]; `kind` of a row colours it (e.g. a status). */
export function barChart(title, rows, kindOf = () => '') {
  const bar = 22;
  const gap = 8;
  const labelWidth = 200;
  const height = Math.max(1, rows.length) * (bar + gap) + gap;
  const max = Math.max(1, ...rows.map(([, v]) => v));
  const plot = WIDTH - labelWidth - 60;
  const svg = s('svg', { viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, role: 'img', 'aria-label': `${title}: ${rows.map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}` },
    s('title', { text: title }),
    rows.length === 0 ? s('text', { x: 8, y: 20, text: 'none yet' }) : null,
    rows.map(([label, value], i) => {
      const y = gap + i * (bar + gap);
      const w = Math.round((value / max) * plot);
      return s('g', {},
        s('text', { x: labelWidth - 6, y: y + bar / 2 + 4, 'text-anchor': 'end', text: label.length > 28 ? `${label.slice(0, 27)}…` : label }),
        s('rect', { class: `bar ${kindOf(label)}`, x: labelWidth, y, width: Math.max(w, value ? 2 : 0), height: bar }),
        s('text', { x: labelWidth + w + 6, y: y + bar / 2 + 4, text: value.toLocaleString() }));
    }),
    s('line', { class: 'axis', x1: labelWidth, x2: labelWidth, y1: 0, y2: height }),
  );
  return h('figure', {}, h('figcaption', { text: title }), svg, dataTable(title, rows));
}

/** Vertical columns over days: [day, value]. */
export function columnChart(title, rows) {
  const height = 200;
  const bottom = 40;
  const left = 40;
  const plotH = height - bottom - 20;
  const max = Math.max(1, ...rows.map(([, v]) => v));
  const step = rows.length ? (WIDTH - left - 10) / rows.length : 0;
  const col = Math.min(40, Math.max(4, step - 6));
  const svg = s('svg', { viewBox: `0 0 ${WIDTH} ${height}`, width: WIDTH, height, role: 'img', 'aria-label': `${title}: ${rows.map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}` },
    s('title', { text: title }),
    s('line', { class: 'axis', x1: left, x2: WIDTH - 5, y1: height - bottom, y2: height - bottom }),
    s('text', { x: left - 6, y: 24, 'text-anchor': 'end', text: max.toLocaleString() }),
    s('text', { x: left - 6, y: height - bottom, 'text-anchor': 'end', text: '0' }),
    rows.length === 0 ? s('text', { x: left + 8, y: height / 2, text: 'none yet' }) : null,
    rows.map(([day, value], i) => {
      const x = left + 6 + i * step;
      const hgt = Math.round((value / max) * plotH);
      return s('g', {},
        s('rect', { class: 'bar', x, y: height - bottom - hgt, width: col, height: hgt }),
        s('text', { x: x + col / 2, y: height - bottom - hgt - 4, 'text-anchor': 'middle', text: value.toLocaleString() }),
        (rows.length <= 10 || i % Math.ceil(rows.length / 10) === 0)
          ? s('text', { x: x + col / 2, y: height - bottom + 16, 'text-anchor': 'middle', text: day.slice(5) }) : null);
    }),
  );
  return h('figure', {}, h('figcaption', { text: title }), svg, dataTable(title, rows));
}
