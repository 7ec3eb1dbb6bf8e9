// The token lives in this tab's sessionStorage only: never in the URL, never in localStorage.
const KEY = 'hashshare.token';

export function token() {
  return sessionStorage.getItem(KEY);
}

function base64UrlDecode(part) {
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(part.length / 4) * 4, '=');
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

/**
 * The token's claims, decoded here for display only. The service exposes no route that
 * says whom a token belongs to; it verifies the signature on every request, so nothing
 * below is trusted for anything but showing who you are and hiding what you may not do.
 */
export function decode(jwt) {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new Error('this is not a JWT (three dot-separated parts)');
  let claims;
  try {
    claims = JSON.parse(base64UrlDecode(parts[1]));
  } catch {
    throw new Error('the token payload is not readable JSON');
  }
  if (typeof claims !== 'object' || claims === null) throw new Error('the token payload is not an object');
  return claims;
}

export function claims() {
  const t = token();
  if (!t) return null;
  try {
    return decode(t);
  } catch {
    return null;
  }
}

export function scopes() {
  const c = claims();
  return new Set(c && typeof c.scope === 'string' ? c.scope.split(' ').filter(Boolean) : []);
}

export function can(scope) {
  return scopes().has(scope);
}

export function store(jwt) {
  sessionStorage.setItem(KEY, jwt);
}

export function signOut() {
  sessionStorage.removeItem(KEY);
}
