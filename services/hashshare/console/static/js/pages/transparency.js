// Transparency: the service's own statistics, drawn here as SVG.
import { get } from '../api.js';
import { errorText, field, h, put, when } from '../dom.js';
import { barChart, columnChart } from '../charts.js';

const sum = (o) => Object.values(o).reduce((a, b) => a + b, 0);
const sorted = (o) => Object.entries(o).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));

export async function render(main) {
  main.append(h('h1', { tabindex: '-1', text: 'Transparency' }),
    h('p', { class: 'lead', text: 'What the shared set holds now, and how it was used: the figures of GET /v1/stats, live. Activity figures cover the period chosen below (all time when blank). Matches come from two sources: those this service answered, and those members’ own edges matched locally and reported (counts per hour and label only).' }));
  const since = h('input', { type: 'date' });
  const until = h('input', { type: 'date' });
  const form = h('form', { 'aria-label': 'Choose a period', class: 'row' },
    h('div', {}, ...field('From (UTC)', since)),
    h('div', {}, ...field('Before (UTC)', until)),
    h('div', {}, h('button', { type: 'submit', text: 'Show' })));
  const body = h('div', { 'aria-live': 'polite' });
  const show = async () => {
    let stats;
    try {
      stats = await get('/v1/stats', { since: since.value ? `${since.value}T00:00:00Z` : undefined, until: until.value ? `${until.value}T00:00:00Z` : undefined });
    } catch (exc) {
      put(body, h('p', { class: 'error', role: 'alert', text: errorText(exc) }));
      return;
    }
    const d = stats.disputes;
    const r = stats.retractions;
    const matches = stats.matches_by_day;
    const edgeMatches = stats.edge_matches_by_day;
    const edgeLabels = {};
    for (const day of edgeMatches) {
      for (const [label, n] of Object.entries(day.matches_by_label)) edgeLabels[label] = (edgeLabels[label] || 0) + n;
    }
    put(body, 
      h('p', { class: 'muted', text: `Generated ${when(stats.generated_at)}. ${sum(stats.hashes_by_status).toLocaleString()} hashes in the set; ${matches.reduce((a, x) => a + x.matches, 0).toLocaleString()} matches in ${matches.reduce((a, x) => a + x.match_requests, 0).toLocaleString()} requests; ${edgeMatches.reduce((a, x) => a + x.matches, 0).toLocaleString()} matches reported by edges.` }),
      h('div', { class: 'charts' },
        barChart('Hashes by status', sorted(stats.hashes_by_status), (k) => k),
        barChart('Hashes by signal type', sorted(Object.fromEntries(Object.entries(stats.hashes_by_signal_type).map(([k, v]) => [k, sum(v)])))),
        barChart('Matchable hashes by label', sorted(stats.hashes_by_label)),
        barChart('Active contributions by member', sorted(stats.contributions_by_member)),
        columnChart('Matches per day', matches.map((x) => [String(x.day), x.matches])),
        columnChart('Matches reported by edges per day', edgeMatches.map((x) => [String(x.day), x.matches])),
        barChart('Matches reported by edges, by label', sorted(edgeLabels)),
        barChart('Disputes', [
          ['opened', d.opened], ['lifted by agreement', d.lifted],
          ...Object.entries(d.resolved).sort().map(([k, v]) => [`resolved: ${k}`, v]),
          ['open now', d.open_now],
        ]),
        barChart('Retractions', [
          ['by members (contributions)', r.contributions_retracted],
          ['by an admin (hashes)', r.hashes_retracted_by_admin],
          ['retracted hashes now', r.hashes_retracted_now],
        ]),
      ),
    );
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); show(); });
  main.append(form, body);
  await show();
}
