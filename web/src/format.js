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

// Durations as the CLI writes them (flyt policy set min_dwell_ms=2h): the
// shortest exact form, "0", "250ms", "90s", "30m", "2h", "7d".
const DAY = 86400000;
const HOUR = 3600000;
const MINUTE = 60000;
export function duration(n) {
  if (n === null || n === undefined) return '–';
  if (n === 0) return '0';
  if (n % DAY === 0) return `${n / DAY}d`;
  if (n % HOUR === 0) return `${n / HOUR}h`;
  if (n % MINUTE === 0) return `${n / MINUTE}m`;
  if (n % 1000 === 0) return `${n / 1000}s`;
  return `${n}ms`;
}

// Parses a duration the way the controller's CLI does (energy_duration_parse): a
// number with a unit ms, s, m or min, h, d; a plain number is whole milliseconds.
// Returns the milliseconds, or null when text is not a duration.
export function parseDuration(text) {
  const t = String(text).trim();
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|min|h|d)?$/.exec(t);
  if (!m) return null;
  if (!m[2]) return /^\d+$/.test(m[1]) ? Number(m[1]) : null;
  const factor = { ms: 1, s: 1000, m: MINUTE, min: MINUTE, h: HOUR, d: DAY }[m[2]];
  const v = Math.round(Number(m[1]) * factor);
  return Number.isFinite(v) && v <= 10 * 366 * DAY ? v : null;
}

// A decimal number typed into a field (a dot or a comma), or null.
export function parseNumber(text) {
  const t = String(text).trim().replace(',', '.');
  if (!/^-?(\d+(\.\d*)?|\.\d+)$/.test(t)) return null;
  const v = Number(t);
  return Number.isFinite(v) ? v : null;
}

// Energy, CO2 and money as the energy views show them.
export function watts(w) {
  if (w === null || w === undefined) return '–';
  return w >= 10000 ? `${(w / 1000).toFixed(1)} kW` : `${Math.round(w)} W`;
}

export function energyWh(wh) {
  if (wh === null || wh === undefined) return '–';
  if (wh >= 1e6) return `${(wh / 1e6).toFixed(2)} MWh`;
  if (wh >= 1000) return `${(wh / 1000).toFixed(2)} kWh`;
  return `${wh.toFixed(wh < 10 ? 2 : 1)} Wh`;
}

// Two decimals, or two significant digits for small amounts (a workload's CO2
// or cost of a few minutes).
function fixed(v) {
  const a = Math.abs(v);
  return v.toFixed(a === 0 || a >= 0.01 ? 2 : Math.min(8, Math.ceil(-Math.log10(a)) + 1));
}

export function co2g(g) {
  if (g === null || g === undefined) return '–';
  if (Math.abs(g) >= 1e6) return `${(g / 1e6).toFixed(2)} t CO₂`;
  if (Math.abs(g) >= 1000) return `${(g / 1000).toFixed(2)} kg CO₂`;
  return `${Math.abs(g) < 10 ? fixed(g) : g.toFixed(1)} g CO₂`;
}

export function money(v, currency) {
  if (v === null || v === undefined) return '–';
  return `${fixed(v)} ${currency || ''}`.trim();
}

// A signal's value with its unit (g/kWh, EUR/MWh, DKK/MWh).
export function signalValue(v, unit) {
  if (v === null || v === undefined) return '–';
  return `${Number(v).toFixed(unit === 'g/kWh' ? 0 : 2)} ${unit || ''}`.trim();
}
