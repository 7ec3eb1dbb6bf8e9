// Disputes queue (admin): disputed hashes with the verdicts behind them; resolve in writing.
import { get, post } from '../api.js';
import { banner, errorText, field, h, put, table, when } from '../dom.js';

function resolveForm(d, reload) {
  const decision = h('select', {},
    h('option', { value: 'reinstate', text: 'reinstate: the listing stands (earlier feedback stops counting)' }),
    h('option', { value: 'retract', text: 'retract: every contribution is retracted; it stops matching' }));
  const reason = h('textarea', { rows: 2, required: true, maxlength: 2000 });
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { 'aria-label': `Resolve the dispute of hash #${d.hash_id}` },
    h('div', { class: 'row' }, h('div', {}, ...field('Decision', decision))),
    ...field('Written reason (recorded in the audit log)', reason),
    h('button', { type: 'submit', text: `Resolve #${d.hash_id}` }), out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!reason.value.trim()) {
      put(out, h('p', { class: 'error', role: 'alert', text: 'A resolution needs a written reason.' }));
      return;
    }
    try {
      const answer = await post(`/v1/hashes/${d.hash_id}/resolution`, { decision: decision.value, reason: reason.value.trim() });
      await reload(`Hash #${d.hash_id}: ${answer.decision}; it is now ${answer.status}.`);
    } catch (exc) {
      put(out, h('p', { class: 'error', role: 'alert', text: errorText(exc) }));
    }
  });
  return form;
}

export async function render(main, { can }) {
  main.append(h('h1', { tabindex: '-1', text: 'Disputes' }),
    h('p', { class: 'lead', text: 'Hashes whose listing members dispute. Disputed hashes match only when a caller asks for them. Resolve each with a written reason.' }));
  const body = h('div');
  main.append(body);
  let cursor = null;
  const reload = async (message) => {
    let page;
    try {
      page = await get('/v1/disputes', { cursor });
    } catch (exc) {
      put(body, h('p', { class: 'error', role: 'alert', text: errorText(exc) }));
      return;
    }
    const sections = page.disputes.map((d) => h('section', { 'aria-labelledby': `d${d.hash_id}` },
      h('h2', { id: `d${d.hash_id}` },
        can('hashes:read') ? h('a', { href: `#/hash/${d.hash_id}`, text: `Hash #${d.hash_id}` }) : `Hash #${d.hash_id}`,
        ` · ${d.signal_type} · ${d.labels.join(', ')}`),
      h('p', { class: 'muted' }, `Last changed ${when(d.updated_at)}; ${d.contributors} contributor(s); `,
        `${d.feedback.agree} agree, ${d.feedback.disagree} disagree `,
        `(${Object.entries(d.feedback.disagree_by_reason).map(([r, n]) => `${r}: ${n}`).join(', ')}).`),
      table('Verdicts that count', ['Member', 'Verdict', 'Reason', 'Comment', 'When (UTC)'],
        d.verdicts.map((v) => [v.member_id, v.verdict, v.reason ?? '', v.comment ?? '', when(v.updated_at)])),
      resolveForm(d, reload),
    ));
    put(body, 
      message ? banner('ok', message) : null,
      page.disputes.length ? null : h('p', { role: 'status', text: 'No disputed hashes.' }),
      ...sections,
      page.next_cursor ? h('button', { type: 'button', class: 'secondary', onclick: () => { cursor = page.next_cursor; reload(); }, text: 'Next disputes' }) : null,
    );
  };
  await reload();
}
