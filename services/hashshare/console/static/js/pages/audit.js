// Audit log (auditor): filters, cursor paging, the chain's verdict, export.
import { call, get } from '../api.js';
import { banner, errorText, field, h, put, table, when } from '../dom.js';

const OUTCOMES = ['', 'ok', 'rejected', 'denied'];

function verdictBanner(v) {
  if (v.ok) {
    return banner('ok', h('strong', { text: `The chain verifies up to event ${v.head_seq}` }),
      ` (${v.events} events). Head digest: `, h('code', { text: v.head_digest }));
  }
  return banner('bad', h('strong', { text: `The chain is broken at event ${v.broken_seq}` }),
    `: ${v.reason}. It verifies up to event ${v.head_seq}, head digest `, h('code', { text: v.head_digest }), '.');
}

function isoOrUndefined(local) {
  // datetime-local has no zone; the API needs one: read it as UTC, as the table shows.
  return local ? `${local}${local.length === 16 ? ':00' : ''}Z` : undefined;
}

export async function render(main, { can }) {
  main.append(h('h1', { tabindex: '-1', text: 'Audit log' }),
    h('p', { class: 'lead', text: 'Every action, refusal and match, newest first. Each event is chained to the one before it by its digest, so a change to any event breaks the chain from there on.' }));
  const verdict = h('div', { 'aria-live': 'polite' });
  main.append(verdict);
  const checkChain = async () => {
    try {
      put(verdict, verdictBanner(await get('/v1/audit/verify')));
    } catch (exc) {
      put(verdict, banner('bad', `The chain could not be verified: ${errorText(exc)}`));
    }
  };

  const member = h('input', { type: 'text', size: 14, maxlength: 64 });
  const action = h('input', { type: 'text', size: 18, maxlength: 64, list: 'audit-actions' });
  const actions = h('datalist', { id: 'audit-actions' },
    ['match', 'hashes.submit', 'hashes.retract', 'feedback.given', 'hash.disputed', 'hash.undisputed', 'dispute.resolved', 'member.add', 'auth.failed', 'request.denied', 'request.rejected']
      .map((a) => h('option', { value: a })));
  const outcome = h('select', {}, OUTCOMES.map((o) => h('option', { value: o, text: o || 'any' })));
  const since = h('input', { type: 'datetime-local' });
  const until = h('input', { type: 'datetime-local' });
  const limit = h('select', {}, [10, 25, 50, 100, 500].map((n) => h('option', { value: n, text: String(n), selected: n === 50 })));
  const results = h('div', { 'aria-live': 'polite' });
  const form = h('form', { 'aria-label': 'Filter the audit log' },
    h('div', { class: 'row' },
      h('div', {}, ...field('Member', member)),
      h('div', {}, ...field('Action', action), actions),
      h('div', {}, ...field('Outcome', outcome)),
      h('div', {}, ...field('From (UTC)', since)),
      h('div', {}, ...field('Before (UTC)', until)),
      h('div', {}, ...field('Per page', limit)),
    ),
    h('button', { type: 'submit', text: 'Apply filters' }),
  );
  const exportButton = h('button', { type: 'button', class: 'secondary', text: 'Export the whole log (JSON Lines)' });
  const exportOut = h('span', { 'aria-live': 'polite' });
  exportButton.addEventListener('click', async () => {
    try {
      const response = await call('GET', '/v1/audit/export', { raw: true });
      const blob = await response.blob();
      const link = h('a', { href: URL.createObjectURL(blob), download: `hashshare-audit-${new Date().toISOString().slice(0, 10)}.jsonl`, text: `Save the export (${blob.size.toLocaleString()} bytes)` });
      put(exportOut, link);
      link.click();
    } catch (exc) {
      put(exportOut, h('span', { class: 'error', text: errorText(exc) }));
    }
  });

  // Cursors of the pages seen so far, so "Newer" goes back without the API paging forwards.
  let cursors = [null];
  const show = async () => {
    const query = {
      member: member.value.trim(), action: action.value.trim(), outcome: outcome.value,
      since: isoOrUndefined(since.value), until: isoOrUndefined(until.value),
      limit: limit.value, cursor: cursors[cursors.length - 1],
    };
    let page;
    try {
      page = await get('/v1/audit', query);
    } catch (exc) {
      put(results, h('p', { class: 'error', role: 'alert', text: errorText(exc) }));
      return;
    }
    const target = (ids) => ids.map((id, i) => [i ? ', ' : '', can('hashes:read') ? h('a', { href: `#/hash/${id}`, text: `#${id}` }) : `#${id}`]);
    put(results, 
      h('p', { role: 'status', text: page.events.length
        ? `Events ${page.events[0].seq} to ${page.events[page.events.length - 1].seq} (page ${cursors.length}).`
        : 'No events match these filters.' }),
      table(null, ['Seq', 'When (UTC)', 'Actor', 'Member', 'Action', 'Outcome', 'Targets', 'Details', 'Digest'],
        page.events.map((e) => [
          String(e.seq), when(e.occurred_at), e.actor ?? '', e.member_id ?? '', e.action, e.outcome,
          target(e.target_ids), h('code', { text: JSON.stringify(e.details) }), h('code', { title: e.digest, text: e.digest.slice(0, 12) + '…' }),
        ]), [0]),
      h('div', {},
        cursors.length > 1 ? h('button', { type: 'button', class: 'secondary', onclick: () => { cursors.pop(); show(); }, text: '← Newer' }) : null,
        page.next_cursor ? h('button', { type: 'button', class: 'secondary', onclick: () => { cursors.push(page.next_cursor); show(); }, text: 'Older →' }) : null,
      ),
    );
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    cursors = [null];
    checkChain();
    show();
  });
  main.append(form, h('div', {}, exportButton, ' ', exportOut), results);
  await Promise.all([checkChain(), show()]);
}
