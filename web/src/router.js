// Hash routing: #/workloads?host=a, #/workloads/db, ... The server serves one page
// at "/", so every view has a URL that can be bookmarked and reloaded.
import { useEffect, useState } from 'preact/hooks';

export function parseHash(hash = location.hash) {
  const h = hash.replace(/^#/, '') || '/hosts';
  const q = h.indexOf('?');
  const path = q >= 0 ? h.slice(0, q) : h;
  const params = Object.fromEntries(new URLSearchParams(q >= 0 ? h.slice(q + 1) : ''));
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  return { path, parts, params };
}

export function href(path, params) {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== '') p.set(k, v);
  const s = p.toString();
  return '#' + path + (s ? '?' + s : '');
}

export function navigate(path, params, { replace = false } = {}) {
  const h = href(path, params);
  if (replace) history.replaceState(null, '', h);
  else history.pushState(null, '', h);
  window.dispatchEvent(new Event('hashchange'));
}

export function useRoute() {
  const [route, setRoute] = useState(parseHash());
  useEffect(() => {
    const on = () => setRoute(parseHash());
    window.addEventListener('hashchange', on);
    window.addEventListener('popstate', on);
    return () => {
      window.removeEventListener('hashchange', on);
      window.removeEventListener('popstate', on);
    };
  }, []);
  return route;
}
