// How numbers, sizes and times read on the page.

export function bytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = Number(n);
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return (i === 0 ? String(v) : v.toFixed(v < 10 ? 1 : 0)) + ' ' + units[i];
}

export function ms(n) {
  if (n === null || n === undefined) return '–';
  if (n < 1000) return `${Math.round(n)} ms`;
  if (n < 60000) return `${(n / 1000).toFixed(n < 10000 ? 2 : 1)} s`;
  const m = Math.floor(n / 60000);
  return `${m} min ${Math.round((n % 60000) / 1000)} s`;
}

export function ago(iso) {
  if (!iso) return '–';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  const d = Math.max(0, Date.now() - t);
  if (d < 5000) return 'just now';
  if (d < 60000) return `${Math.round(d / 1000)} s ago`;
  if (d < 3600000) return `${Math.round(d / 60000)} min ago`;
  if (d < 86400000) return `${Math.round(d / 3600000)} h ago`;
  return new Date(t).toLocaleString();
}

export function when(iso) {
  if (!iso) return '–';
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toLocaleString();
}

export function num(n) {
  return n === null || n === undefined ? '–' : Number(n).toLocaleString('en');
}

export const TERMINAL = ['committed', 'rolled_back', 'failed'];
export const PHASES = ['planned', 'preparing', 'transferring', 'restoring', 'switching', 'verifying', 'committed'];

export function isTerminal(state) {
  return TERMINAL.includes(state);
}

export function stateLabel(s) {
  return (s || 'unknown').replace('_', ' ');
}
