// The one way the console talks to the service: the public API, with the bearer token.
import { signOut, token } from './session.js';

export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/**
 * One request. A 401 signs the tab out and sends it to the sign-in page, unless `checking`
 * says the caller is the sign-in page itself, testing a new token.
 */
export async function call(method, path, { json, form, query, raw, checking } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
  }
  const headers = { Accept: 'application/json' };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body, credentials: 'omit', cache: 'no-store' });
  } catch (exc) {
    throw new ApiError(0, 'network_error', `the service did not answer: ${exc.message}`, null);
  }
  if (response.status === 401 && !checking) {
    signOut();
    window.dispatchEvent(new CustomEvent('hashshare:signed-out', { detail: 'The service refused the token; sign in again.' }));
  }
  if (!response.ok) {
    let payload = null;
    try {
      payload = await response.json();
    } catch {
      /* not JSON */
    }
    const e = payload && payload.error ? payload.error : {};
    throw new ApiError(response.status, e.code || 'http_error', e.message || response.statusText, e.details || null);
  }
  if (raw) return response;
  return response.json();
}

export const get = (path, query) => call('GET', path, { query });
export const post = (path, json) => call('POST', path, { json });
