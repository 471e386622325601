// The controller's REST API as the page uses it: same-origin fetches that carry
// the session cookie (HttpOnly: this code never sees it) and, on requests that
// change state, the session's CSRF token. The token is kept in memory only; a
// reload asks the controller for it again (GET /api/v1/session).

let csrf = null;
const signedOutListeners = new Set();

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function onSignedOut(fn) {
  signedOutListeners.add(fn);
  return () => signedOutListeners.delete(fn);
}

function signedOut() {
  csrf = null;
  for (const fn of signedOutListeners) fn();
}

export async function api(method, path, body, { text = false, signal } = {}) {
  const headers = { Accept: text ? 'text/plain' : 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'unavailable', 'the controller cannot be reached');
  }
  const raw = await res.text();
  if (!res.ok) {
    let code = 'error';
    let message = `HTTP ${res.status}`;
    try {
      const j = JSON.parse(raw);
      if (j && j.error) {
        code = j.error.code || code;
        message = j.error.message || message;
      }
    } catch {
      /* not JSON: keep the status */
    }
    if (res.status === 401 && path !== '/api/v1/session') signedOut();
    throw new ApiError(res.status, code, message);
  }
  if (text) return raw;
  return raw ? JSON.parse(raw) : null;
}

// Signs in with the cluster token; the controller sets the session cookie.
export async function signIn(token) {
  const s = await api('POST', '/api/v1/session', { token });
  csrf = s.csrf;
  return s;
}

// The session the cookie holds, or null when there is none.
export async function resumeSession() {
  const s = await api('GET', '/api/v1/session');
  if (!s || !s.signed_in) return null;
  csrf = s.csrf || null;
  return s;
}

export async function signOut() {
  try {
    await api('DELETE', '/api/v1/session');
  } finally {
    signedOut();
  }
}

export function qs(params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? '?' + s : '';
}

export const enc = encodeURIComponent;
