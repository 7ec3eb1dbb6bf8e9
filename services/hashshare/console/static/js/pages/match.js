// Match: hashes pasted as text, or an image sent to POST /v1/match/image after saying so.
import { call, get, post } from '../api.js';
import { banner, errorText, field, h, put, status, table } from '../dom.js';

let signalTypes = null;

function parseLines(text, fallbackType) {
  const queries = [];
  const problems = [];
  text.split(/\r?\n/).forEach((line, i) => {
    const trimmed = line.trim();
    if (!trimmed || trimmed.startsWith('#')) return;
    const parts = trimmed.split(/[\s,;]+/);
    if (parts.length === 1) queries.push({ line: i + 1, signal_type: fallbackType, value: parts[0] });
    else if (parts.length === 2) queries.push({ line: i + 1, signal_type: parts[0], value: parts[1] });
    else problems.push(`line ${i + 1}: expected "value" or "signal_type value"`);
  });
  return { queries, problems };
}

function hashLink(id, can) {
  return can('hashes:read') ? h('a', { href: `#/hash/${id}`, text: `#${id}` }) : `#${id}`;
}

function results(answer, labelsOf, can) {
  const rows = [];
  answer.results.forEach((result) => {
    const label = labelsOf(result);
    if (result.matches.length === 0) {
      rows.push([label, 'no match', '', '', '', '']);
    }
    for (const hit of result.matches) {
      rows.push([label, hashLink(hit.hash_id, can), String(hit.distance), hit.labels.join(', '), status(hit.status), String(hit.contributors)]);
    }
  });
  return [
    h('p', { role: 'status', text: `${answer.matched_queries} of ${answer.results.length} queries matched.` }),
    table('Matches, nearest first', ['Query', 'Hash', 'Distance', 'Labels', 'Status', 'Contributors'], rows, [2, 5]),
  ];
}

export async function render(main, { can }) {
  main.append(h('h1', { tabindex: '-1', text: 'Match' }),
    h('p', { class: 'lead', text: 'Look hashes up in the shared set. Every match request is recorded in the audit log; a query that matched nothing is kept only as a keyed digest.' }));
  if (!signalTypes) signalTypes = (await get('/v1/signal-types')).signal_types;

  // Hashes as text.
  const typeSelect = h('select', {}, signalTypes.map((t) => h('option', { value: t.name, text: t.name })));
  const box = h('textarea', { rows: 5, spellcheck: 'false', placeholder: 'pdq 358c86641a5269ab5b0db5f1b2315c1642cef9652c39b6ced9f646d91f071927' });
  const disputed = h('input', { type: 'checkbox' });
  const maxDistance = h('input', { type: 'number', min: 0, inputmode: 'numeric' });
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { 'aria-label': 'Match hashes' },
    h('h2', { text: 'Hashes' }),
    ...field('Hashes, one per line: "value" or "signal_type value"', box),
    h('div', { class: 'row' },
      h('div', {}, ...field('Signal type of lines without one', typeSelect)),
      h('div', {}, ...field('Largest distance (blank: the type\'s default)', maxDistance)),
    ),
    h('label', { class: 'inline' }, disputed, 'Also report disputed hashes'),
    h('div', {}, h('button', { type: 'submit', text: 'Match hashes' })),
    out,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const { queries, problems } = parseLines(box.value, typeSelect.value);
    if (problems.length || !queries.length) {
      put(out, h('p', { class: 'error', role: 'alert', text: problems.join('; ') || 'Enter at least one hash.' }));
      return;
    }
    const md = maxDistance.value === '' ? undefined : Number(maxDistance.value);
    try {
      const answer = await post('/v1/match', {
        queries: queries.map((q) => ({ signal_type: q.signal_type, value: q.value, ...(md === undefined ? {} : { max_distance: md }) })),
        include_disputed: disputed.checked,
      });
      put(out, ...results(answer, (r) => `line ${queries[r.index].line} (${r.signal_type})`, can));
    } catch (exc) {
      const items = exc.details && exc.details.errors ? exc.details.errors.map((it) => `line ${queries[it.index]?.line}: ${it.message}`) : [];
      put(out, h('p', { class: 'error', role: 'alert', text: errorText(exc) }), items.length ? h('ul', {}, items.map((t) => h('li', { text: t }))) : null);
    }
  });
  main.append(form);

  // An image: previewed here, hashed by the service only after the caller agrees.
  const file = h('input', { type: 'file', accept: 'image/*' });
  const preview = h('div');
  const imgOut = h('div', { 'aria-live': 'polite', id: 'image-results' });
  const send = h('button', { type: 'button', disabled: true, text: 'Send the image to the service and match' });
  const imgDisputed = h('input', { type: 'checkbox' });
  let chosen = null;
  let previewUrl = null;
  const choose = (f) => {
    chosen = f;
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = URL.createObjectURL(f);
    put(preview, h('img', { class: 'preview', src: previewUrl, alt: `Preview of ${f.name} (shown here only)` }), h('p', { class: 'muted', text: `${f.name}, ${f.size.toLocaleString()} bytes` }));
    send.disabled = false;
    put(imgOut);
  };
  file.addEventListener('change', () => file.files[0] && choose(file.files[0]));
  const drop = h('div', { class: 'drop' },
    h('h2', { text: 'An image' }),
    banner('info',
      h('strong', { text: 'The image will be sent to the service. ' }),
      'Perceptual hashes (PDQ, pHash, dHash) cannot be computed faithfully in a browser: its image decoder and resizing differ from the service\'s pipeline and would move a PDQ hash by up to about half of its match budget. So the image is sent to POST /v1/match/image, hashed in memory there and not stored; the preview below stays in this page.'),
    ...field('Image file (or drop one here)', file),
    h('label', { class: 'inline' }, imgDisputed, 'Also report disputed hashes'),
    preview,
    send,
    imgOut,
  );
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer.files[0]) choose(e.dataTransfer.files[0]);
  });
  send.addEventListener('click', async () => {
    if (!chosen) return;
    const form = new FormData();
    form.append('image', chosen, chosen.name);
    if (imgDisputed.checked) form.append('include_disputed', 'true');
    send.disabled = true;
    put(imgOut, h('p', { text: 'Hashing on the service…' }));
    try {
      const answer = await call('POST', '/v1/match/image', { form });
      put(imgOut, ...results(answer, (r) => `${r.signal_type}${r.transform ? ` (${r.transform})` : ''} ${r.value}`, can));
    } catch (exc) {
      put(imgOut, h('p', { class: 'error', role: 'alert', text: errorText(exc) }));
    } finally {
      send.disabled = false;
    }
  });
  main.append(drop);
}
