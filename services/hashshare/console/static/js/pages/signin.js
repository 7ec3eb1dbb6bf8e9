// Sign-in: a token pasted or dropped as a file, kept in this tab's session only.
import { call } from '../api.js';
import { banner, errorText, field, h, put, when } from '../dom.js';
import { claims, decode, signOut, store, token } from '../session.js';

function whoAmI(c) {
  const exp = typeof c.exp === 'number' ? new Date(c.exp * 1000) : null;
  return h('dl', { class: 'facts', 'aria-label': 'Your token' },
    h('dt', { text: 'Subject' }), h('dd', { text: c.sub ?? '(none)' }),
    h('dt', { text: 'Member' }), h('dd', { text: c.member ?? '(none)' }),
    h('dt', { text: 'Scopes' }), h('dd', {}, (typeof c.scope === 'string' ? c.scope.split(' ') : []).map((sc) => h('code', { text: sc + ' ' }))),
    h('dt', { text: 'Expires' }), h('dd', { text: exp ? when(exp.toISOString()) : '(no expiry claim)' }),
    h('dt', { text: 'Issuer' }), h('dd', { text: c.iss ?? '' }),
  );
}

export async function render(main, { afterSignIn }) {
  main.append(h('h1', { tabindex: '-1', text: token() ? 'Who am I' : 'Sign in' }));
  const notice = sessionStorage.getItem('hashshare.notice');
  if (notice) {
    sessionStorage.removeItem('hashshare.notice');
    main.append(banner('warn', notice));
  }
  const c = token() ? claims() : null;
  if (c) {
    main.append(
      whoAmI(c),
      h('p', { class: 'lead', text: 'Decoded from the token in this browser, for display only: the service has no route that says whom a token belongs to, and it checks the signature, audience and expiry on every request.' }),
    );
  }
  const box = h('textarea', { rows: 4, spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'token-help' });
  const file = h('input', { type: 'file', accept: '.jwt,.txt,text/plain' });
  const message = h('div', { 'aria-live': 'polite' });
  const drop = h('div', { class: 'drop' },
    ...field('Token (JWT)', box),
    h('p', { id: 'token-help', class: 'muted', text: 'Paste a token, or drop a file holding one here. It is kept in this tab only (sessionStorage) and sent to this service alone.' }),
    ...field('Or choose a token file', file),
  );
  const readFile = async (f) => { box.value = (await f.text()).trim(); };
  file.addEventListener('change', () => file.files[0] && readFile(file.files[0]));
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer.files[0]) readFile(e.dataTransfer.files[0]);
  });
  const form = h('form', { 'aria-label': 'Sign in with a token' }, drop, h('button', { type: 'submit', text: 'Sign in' }), message);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const jwt = box.value.trim();
    try {
      decode(jwt);
    } catch (exc) {
      put(message, h('p', { class: 'error', role: 'alert', text: `Not signed in: ${exc.message}.` }));
      return;
    }
    store(jwt);
    try {
      // Any valid token may read the taxonomy: the service checks this one here.
      await call('GET', '/v1/labels', { checking: true });
    } catch (exc) {
      signOut();
      put(message, h('p', { class: 'error', role: 'alert', text: `The service refused the token: ${errorText(exc)}` }));
      return;
    }
    afterSignIn();
  });
  if (c) main.append(h('h2', { text: 'Use another token' }));
  main.append(form);
}
