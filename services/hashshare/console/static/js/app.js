// The console's shell: navigation that follows the token's scopes, and hash routing.
import { h, put } from './dom.js';
import { can, claims, signOut, token } from './session.js';
import * as signin from './pages/signin.js';
import * as match from './pages/match.js';
import * as hash from './pages/hash.js';
import * as contribute from './pages/contribute.js';
import * as disputes from './pages/disputes.js';
import * as audit from './pages/audit.js';
import * as transparency from './pages/transparency.js';

// Each page names the scopes that let a caller use it (any one of them will do).
const PAGES = [
  { path: 'match', title: 'Match', scopes: ['hashes:match'], page: match },
  { path: 'hash', title: 'Hash', scopes: ['hashes:read'], page: hash },
  { path: 'contribute', title: 'Contribute', scopes: ['hashes:submit'], page: contribute },
  { path: 'disputes', title: 'Disputes', scopes: ['admin'], page: disputes },
  { path: 'audit', title: 'Audit log', scopes: ['audit:read'], page: audit },
  { path: 'transparency', title: 'Transparency', scopes: ['audit:read'], page: transparency },
];

export function allowed(page) {
  return page.scopes.some((scope) => can(scope));
}

function renderChrome(current) {
  const nav = document.getElementById('nav');
  const who = document.getElementById('who');
  const c = token() ? claims() : null;
  const items = c ? PAGES.filter(allowed) : [];
  put(nav, 
    h('ul', {}, [
      ...items.map((p) => h('li', {}, h('a', { href: `#/${p.path}`, 'aria-current': p.path === current ? 'page' : null, text: p.title }))),
      h('li', {}, h('a', { href: '#/signin', 'aria-current': current === 'signin' ? 'page' : null, text: c ? 'Who am I' : 'Sign in' })),
    ]),
  );
  put(who, 
    c ? h('span', {}, `${c.sub ?? '?'} · member `, h('strong', { text: c.member ?? '?' }), ' ',
      h('button', { type: 'button', class: 'secondary', onclick: () => { signOut(); window.location.hash = '#/signin'; route(); } }, 'Sign out'))
      : h('span', { text: 'Not signed in' }),
  );
}

export function firstPage() {
  const p = PAGES.find(allowed);
  return p ? p.path : 'signin';
}

function go(target) {
  if (window.location.hash === target) route();
  else window.location.hash = target;
}

async function route() {
  const raw = window.location.hash;
  if (raw && !raw.startsWith('#/')) return; // in-page anchors such as the skip link
  const [path, ...rest] = (raw.slice(2) || '').split('/');
  const main = document.getElementById('main');
  const signedIn = Boolean(token() && claims());
  let name = path || (signedIn ? firstPage() : 'signin');
  if (!signedIn) name = 'signin';
  renderChrome(name);
  put(main);
  const entry = PAGES.find((p) => p.path === name);
  if (name === 'signin' || !entry) {
    await signin.render(main, { afterSignIn: () => go(`#/${firstPage()}`) });
  } else if (!allowed(entry)) {
    main.append(
      h('h1', { tabindex: '-1', text: entry.title }),
      h('p', { role: 'alert', text: `Your token does not carry the scope this page needs (${entry.scopes.join(' or ')}).` }),
    );
  } else {
    await entry.page.render(main, { params: rest.map(decodeURIComponent), can });
  }
  document.title = `${entry && name !== 'signin' ? entry.title : 'Sign in'} · hashshare console`;
  const heading = main.querySelector('h1');
  if (heading && route.moved) heading.focus();
  route.moved = true;
}

window.addEventListener('hashchange', route);
window.addEventListener('hashshare:signed-out', (event) => {
  sessionStorage.setItem('hashshare.notice', event.detail);
  if (window.location.hash !== '#/signin') window.location.hash = '#/signin';
  else route();
});
route();
