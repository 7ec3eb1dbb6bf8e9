// Hash detail: the listing, its feedback, your part in it; feedback and retraction.
import { call, get, post } from '../api.js';
import { banner, errorText, field, h, put, status, table, when } from '../dom.js';

const REASONS = ['not-terrorist-content', 'wrong-label', 'newsworthy-or-documentary', 'counter-speech', 'other'];

function lookupForm(current) {
  const id = h('input', { type: 'number', min: 1, value: current ?? '', inputmode: 'numeric' });
  const form = h('form', { 'aria-label': 'Open a hash', class: 'row' },
    h('div', {}, ...field('Hash id', id)),
    h('div', {}, h('button', { type: 'submit', text: 'Open' })));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (id.value) window.location.hash = `#/hash/${encodeURIComponent(id.value)}`;
  });
  return form;
}

function history(item, changes) {
  // The lifetime of the listing: every status it has had (from the change feed), and the
  // contributions the API shows this caller (each one, for auditors).
  const rows = [
    [when(item.first_contributed_at), 'first contributed', ''],
    [when(item.last_contributed_at), 'last contributed', ''],
  ];
  let previous = null;
  for (const change of changes) {
    if (change.status !== previous) {
      rows.push([when(change.changed_at), `status: ${change.status}`, `${change.contributors} contributor(s); ${change.labels.join(', ')}`]);
      previous = change.status;
    }
  }
  if (item.your_contribution) {
    const yours = item.your_contribution;
    rows.push([when(yours.contributed_at), 'your contribution', yours.labels.join(', ')]);
    if (yours.retracted_at) rows.push([when(yours.retracted_at), 'your contribution retracted', '']);
  }
  for (const c of item.contributions || []) {
    rows.push([when(c.contributed_at), `contributed by ${c.member_id}`, c.labels.join(', ')]);
    if (c.retracted_at) rows.push([when(c.retracted_at), `retracted by ${c.member_id}`, '']);
  }
  if (item.your_feedback) rows.push([when(item.your_feedback.updated_at), `your verdict: ${item.your_feedback.verdict}`, item.your_feedback.reason ?? '']);
  rows.sort((a, b) => a[0].localeCompare(b[0]));
  return table('History', ['When (UTC)', 'What', 'Labels / reason'], rows);
}

function feedbackForm(item, reload) {
  const verdict = h('select', {}, h('option', { value: 'agree', text: 'agree: the listing is right' }), h('option', { value: 'disagree', text: 'disagree' }));
  const reason = h('select', {}, h('option', { value: '', text: '(no reason: only for agree)' }), REASONS.map((r) => h('option', { value: r, text: r })));
  const comment = h('textarea', { rows: 2, maxlength: 2000 });
  const out = h('div', { 'aria-live': 'polite' });
  const form = h('form', { 'aria-label': 'Give feedback' },
    h('h2', { text: 'Your verdict' }),
    h('div', { class: 'row' }, h('div', {}, ...field('Verdict', verdict)), h('div', {}, ...field('Reason (needed to disagree)', reason))),
    ...field('Comment (optional)', comment),
    h('button', { type: 'submit', text: 'Send verdict' }), out);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const answer = await post(`/v1/hashes/${item.id}/feedback`, {
        verdict: verdict.value,
        reason: reason.value || null,
        comment: comment.value || null,
      });
      await reload(`Verdict recorded; the hash is now ${answer.status}.`);
    } catch (exc) {
      put(out, h('p', { class: 'error', role: 'alert', text: errorText(exc) }));
    }
  });
  return form;
}

function retractControl(item, reload) {
  const last = item.contributors <= 1;
  const dialog = h('dialog', { 'aria-labelledby': 'retract-title' },
    h('h2', { id: 'retract-title', text: `Retract your contribution to hash #${item.id}?` }),
    h('p', { text: 'Retraction withdraws your contribution: your labels and reference stop counting, and the withdrawal is recorded in the audit log.' }),
    h('p', { text: last
      ? 'You are its only active contributor, so the hash itself is retracted: it stops matching on every replica within a second and stays only as a tombstone in the sync feed and the audit log.'
      : `${item.contributors - 1} other member(s) still contribute it, so it keeps matching with their labels.` }),
    h('p', { text: 'To list it again you would contribute it again.' }),
  );
  const confirm = h('button', { type: 'button', class: 'danger', text: 'Retract my contribution' });
  const cancel = h('button', { type: 'button', class: 'secondary', autofocus: true, text: 'Keep it' });
  dialog.append(confirm, cancel);
  cancel.addEventListener('click', () => dialog.close());
  confirm.addEventListener('click', async () => {
    dialog.close();
    try {
      const answer = await call('DELETE', `/v1/hashes/${item.id}`);
      await reload(`Your contribution is retracted; the hash is ${answer.status}.`);
    } catch (exc) {
      await reload(null, exc);
    }
  });
  const open = h('button', { type: 'button', class: 'danger', text: 'Retract…' });
  open.addEventListener('click', () => dialog.showModal());
  return h('div', {}, h('h2', { text: 'Your contribution' }), open, dialog);
}

export async function render(main, { params, can }) {
  const id = params[0];
  main.append(h('h1', { tabindex: '-1', text: id ? `Hash #${id}` : 'Hash' }), lookupForm(id));
  if (!id) return;
  const body = h('div');
  main.append(body);
  const reload = async (message, failure) => {
    let item;
    let changes;
    try {
      item = await get(`/v1/hashes/${encodeURIComponent(id)}`);
      changes = (await get(`/v1/hashes/${encodeURIComponent(id)}/history`)).changes;
    } catch (exc) {
      put(body, h('p', { class: 'error', role: 'alert', text: errorText(exc) }));
      return;
    }
    const counts = item.feedback;
    put(body, 
      message ? banner('ok', message) : null,
      failure ? banner('bad', errorText(failure)) : null,
      h('dl', { class: 'facts' },
        h('dt', { text: 'Status' }), h('dd', {}, status(item.status)),
        h('dt', { text: 'Signal type' }), h('dd', { text: item.signal_type }),
        h('dt', { text: 'Value' }), h('dd', {}, h('code', { text: item.value })),
        h('dt', { text: 'Labels' }), h('dd', { text: item.labels.join(', ') }),
        h('dt', { text: 'Contributors' }), h('dd', { text: String(item.contributors) }),
        h('dt', { text: 'Your contribution' }), h('dd', { text: item.your_contribution
          ? `${item.your_contribution.retracted_at ? 'retracted' : 'active'}; labels ${item.your_contribution.labels.join(', ')}${item.your_contribution.external_ref ? `; ref ${item.your_contribution.external_ref}` : ''}`
          : 'none' }),
        h('dt', { text: 'Your verdict' }), h('dd', { text: item.your_feedback
          ? `${item.your_feedback.verdict}${item.your_feedback.reason ? ` (${item.your_feedback.reason})` : ''}` : 'none' }),
      ),
      h('h2', { text: 'Feedback that counts' }),
      table(null, ['Verdict', 'Reason', 'Members'], [
        ['agree', '', String(counts.agree)],
        ...Object.entries(counts.disagree_by_reason).map(([reason, n]) => ['disagree', reason, String(n)]),
      ], [2]),
      history(item, changes),
      can('hashes:feedback') && item.status !== 'retracted' && !(item.your_contribution && !item.your_contribution.retracted_at)
        ? feedbackForm(item, reload) : null,
      can('hashes:submit') && item.your_contribution && !item.your_contribution.retracted_at ? retractControl(item, reload) : null,
    );
  };
  await reload();
}
