// Contribute: one hash by form, or a CSV / hash file, with a result for every line.
import { get, post } from '../api.js';
import { banner, errorText, field, h, put, status, table } from '../dom.js';

const MAX_ITEMS = 10000;

/**
 * Lines of `signal_type,value,labels[,external_ref]` (labels separated by `;` or spaces),
 * or bare values that take the form's signal type and labels. A header line and lines
 * starting with `#` are skipped.
 */
export function parseFile(text, defaults) {
  const items = [];
  const problems = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#') || /^signal_type\s*,/i.test(line)) return;
    const cells = line.split(',').map((c) => c.trim());
    let item;
    if (cells.length === 1) {
      item = { signal_type: defaults.signal_type, value: cells[0], labels: defaults.labels };
    } else if (cells.length === 3 || cells.length === 4) {
      item = { signal_type: cells[0], value: cells[1], labels: cells[2].split(/[;\s]+/).filter(Boolean) };
      if (cells[3]) item.external_ref = cells[3];
    } else {
      problems.push({ line: i + 1, text: line, message: 'expected "value" or "signal_type,value,labels[,external_ref]"' });
      return;
    }
    items.push({ line: i + 1, text: line, item });
  });
  return { items, problems };
}

function perLine(entries, answer, failure) {
  const byIndex = new Map();
  if (answer) answer.results.forEach((r) => byIndex.set(r.index, r));
  const errors = new Map();
  if (failure && failure.details && failure.details.errors) {
    for (const e of failure.details.errors) errors.set(e.index, [...(errors.get(e.index) || []), `${e.field}: ${e.message}`]);
  }
  const rows = entries.map((entry, index) => {
    const result = byIndex.get(index);
    if (result) return [String(entry.line), h('code', { text: entry.text }), status(result.status), h('a', { href: `#/hash/${result.hash_id}`, text: `#${result.hash_id}` })];
    if (errors.has(index)) return [String(entry.line), h('code', { text: entry.text }), status('refused'), errors.get(index).join('; ')];
    return [String(entry.line), h('code', { text: entry.text }), failure ? 'not stored' : '', ''];
  });
  return table('Result of each line', ['Line', 'Content', 'Result', 'Hash / reason'], rows, [0]);
}

async function submit(entries, out) {
  if (!entries.length) {
    put(out, h('p', { class: 'error', role: 'alert', text: 'Nothing to contribute.' }));
    return;
  }
  if (entries.length > MAX_ITEMS) {
    put(out, h('p', { class: 'error', role: 'alert', text: `${entries.length} hashes; at most ${MAX_ITEMS} per submission.` }));
    return;
  }
  try {
    const answer = await post('/v1/hashes', { hashes: entries.map((e) => e.item) });
    put(out, 
      banner('ok', `Stored: ${answer.created} created, ${answer.updated} updated, ${answer.existing} already yours.`),
      perLine(entries, answer, null),
    );
  } catch (exc) {
    put(out, 
      banner('bad', `Nothing was stored (a submission is all or none): ${errorText(exc)}`),
      perLine(entries, null, exc),
    );
  }
}

export async function render(main) {
  main.append(h('h1', { tabindex: '-1', text: 'Contribute' }),
    h('p', { class: 'lead', text: 'Add hashes to the shared set under your member. Other members see the labels and how many members contribute a hash, never your reference. Each submission is stored all or none and recorded in the audit log.' }));
  const [{ signal_types: types }, taxonomy] = await Promise.all([get('/v1/signal-types'), get('/v1/labels')]);

  const typeSelect = h('select', {}, types.map((t) => h('option', { value: t.name, text: `${t.name} (${t.bits} bits)` })));
  const value = h('input', { type: 'text', size: 70, spellcheck: 'false', autocomplete: 'off' });
  const ref = h('input', { type: 'text', size: 30, maxlength: 256 });
  const quality = h('input', { type: 'number', min: 0, max: 100 });
  const boxes = taxonomy.labels.map((l) => {
    const box = h('input', { type: 'checkbox', value: l.name });
    return { box, el: h('label', { class: 'inline', title: l.description }, box, `${l.name} `, h('span', { class: 'muted', text: `(${l.kind})` })) };
  });
  const chosenLabels = () => boxes.filter((b) => b.box.checked).map((b) => b.box.value);
  const out = h('div', { 'aria-live': 'polite' });

  const form = h('form', { 'aria-label': 'Contribute one hash' },
    h('h2', { text: 'One hash' }),
    h('div', { class: 'row' }, h('div', {}, ...field('Signal type', typeSelect)), h('div', {}, ...field('PDQ quality (optional)', quality))),
    ...field('Hash value (hex)', value),
    h('fieldset', {}, h('legend', { text: `Labels (taxonomy ${taxonomy.version}); at least one behaviour label` }), boxes.map((b) => b.el)),
    ...field('Your reference (optional, shown to you only)', ref),
    h('div', {}, h('button', { type: 'submit', text: 'Contribute' })),
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const item = { signal_type: typeSelect.value, value: value.value.trim(), labels: chosenLabels() };
    if (ref.value.trim()) item.external_ref = ref.value.trim();
    if (quality.value !== '') item.quality = Number(quality.value);
    await submit([{ line: 1, text: `${item.signal_type},${item.value},${item.labels.join(';')}`, item }], out);
  });

  const file = h('input', { type: 'file', accept: '.csv,.txt,text/csv,text/plain' });
  const fileForm = h('form', { 'aria-label': 'Contribute a file of hashes' },
    h('h2', { text: 'A CSV or hash file' }),
    h('p', { class: 'muted', text: 'One hash per line: signal_type,value,labels[,external_ref] with labels separated by ";", or a bare value that takes the signal type and labels chosen above. A header line and lines starting with # are skipped.' }),
    ...field('File', file),
    h('div', {}, h('button', { type: 'submit', text: 'Contribute the file' })),
  );
  fileForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!file.files[0]) {
      put(out, h('p', { class: 'error', role: 'alert', text: 'Choose a file first.' }));
      return;
    }
    const { items, problems } = parseFile(await file.files[0].text(), { signal_type: typeSelect.value, labels: chosenLabels() });
    if (problems.length) {
      put(out, 
        banner('bad', 'Nothing was sent: some lines could not be read.'),
        table('Unreadable lines', ['Line', 'Content', 'Problem'], problems.map((p) => [String(p.line), h('code', { text: p.text }), p.message]), [0]),
      );
      return;
    }
    await submit(items, out);
  });
  main.append(form, fileForm, h('h2', { text: 'Results' }), out);
}
