// The automatic-migration policy's settings as the controller checks them
// (src/energy/policy.c, energy_policy_update): each field's label, kind and
// bounds, so that the settings form refuses at the field what the controller
// would refuse, and maps the controller's own refusals back to their field.
import { duration, parseDuration, parseNumber } from './format.js';

const DAY = 86400000;
const HOUR = 3600000;
const MINUTE = 60000;

export const POLICY_KINDS = [
  ['none', 'none: nothing moves by itself (draining hosts are still emptied)'],
  ['greenest', 'greenest: to the area with the lowest CO₂ intensity'],
  ['cheapest', 'cheapest: to the area with the lowest electricity price'],
  ['band', "band: off an area whose price is above its own mean + band % (the old system's rule, per area)"],
  ['balance', 'balance: off hosts above the CPU or memory limit'],
];

export const CURRENCIES = ['EUR', 'DKK'];

// kind: 'number' (decimal), 'int' (whole), 'duration' (milliseconds, typed as 30m, 2h, 5d)
export const POLICY_FIELDS = [
  { group: 'gain', key: 'min_gain_pct', label: 'Minimum gain (% of the value here)', kind: 'number', min: 0, max: 1000,
    hint: 'A move must gain this share of the current host’s CO₂ intensity or price …' },
  { group: 'gain', key: 'min_gain_abs', label: 'Minimum gain (g/kWh, or per MWh)', kind: 'number', min: 0, max: 1e6,
    hint: '… and at least this much.' },
  { group: 'gain', key: 'min_dwell_ms', label: 'Minimum time on a host', kind: 'duration', min: 0, max: 30 * DAY,
    hint: 'No policy move of a workload sooner after its last move (e.g. 30m, 2h).' },
  { group: 'gain', key: 'horizon_ms', label: 'Forecast horizon', kind: 'duration', min: 0, max: 2 * DAY,
    hint: 'Compare the mean over the next this long (from the forecast); 0 compares the values now.' },
  { group: 'limits', key: 'max_concurrent', label: 'Migrations at once', kind: 'int', min: 0, max: 100,
    hint: 'Running migrations (of any origin) before the policy waits.' },
  { group: 'limits', key: 'max_per_hour', label: 'Policy migrations per hour', kind: 'int', min: 0, max: 10000 },
  { group: 'limits', key: 'failure_hold_ms', label: 'Hold after a failed move', kind: 'duration', min: MINUTE,
    max: 30 * DAY, hint: 'A workload whose policy migration failed waits this long (doubling) before another.' },
  { group: 'limits', key: 'cpu_high_pct', label: 'CPU limit (%)', kind: 'number', min: 1, max: 100,
    hint: 'No target above this CPU use with the workload; balance moves off hosts above it.' },
  { group: 'limits', key: 'mem_high_pct', label: 'Memory limit (%)', kind: 'number', min: 1, max: 100,
    hint: 'The same for memory.' },
  { group: 'band', key: 'band_pct', label: 'Band (% above the mean)', kind: 'number', min: 0, max: 1000,
    hint: 'band: a workload leaves an area whose price is above its own mean + this %.' },
  { group: 'band', key: 'band_window_ms', label: 'Band window', kind: 'duration', min: HOUR, max: 60 * DAY,
    hint: 'band: the mean over this long before now (e.g. 5d).' },
  { group: 'power', key: 'idle_watts', label: 'Idle power (W)', kind: 'number', min: 0, max: 1e6,
    hint: 'Of hosts that have no power model of their own.' },
  { group: 'power', key: 'max_watts', label: 'Full-load power (W)', kind: 'number', min: 0, max: 1e6,
    hint: 'Every CPU busy; not below the idle power.' },
];

export const POLICY_GROUPS = [
  ['gain', 'Hysteresis: when a move is worth it'],
  ['limits', 'Limits'],
  ['band', 'Price band'],
  ['power', 'Power model of hosts without their own'],
];

const KEYS = ['policy', 'currency', ...POLICY_FIELDS.map((f) => f.key)];

function bound(f, v) {
  return f.kind === 'duration' ? duration(v) : Number(v).toLocaleString('en');
}

// The text a field shows for a value of the controller.
export function fieldText(f, v) {
  if (v === null || v === undefined) return '';
  return f.kind === 'duration' ? duration(v) : String(v);
}

// Parses one field's text: {value} or {error}.
export function parseField(f, text) {
  if (String(text).trim() === '') return { error: 'Give a value.' };
  let v;
  if (f.kind === 'duration') {
    v = parseDuration(text);
    if (v === null) return { error: 'A duration such as 90s, 30m, 2h or 5d (a plain number is milliseconds).' };
  } else {
    v = parseNumber(text);
    if (v === null) return { error: 'A number.' };
    if (f.kind === 'int' && !Number.isInteger(v)) return { error: 'A whole number.' };
  }
  if (v < f.min || v > f.max) return { error: `Between ${bound(f, f.min)} and ${bound(f, f.max)}.` };
  return { value: v };
}

// The form's texts against the settings they were loaded from: the changes to
// send (only what was edited), or the errors per field.
export function policyChanges(texts, base) {
  const errors = {};
  const changes = {};
  const values = {};
  for (const k of ['policy', 'currency']) if (texts[k] !== base[k]) changes[k] = texts[k];
  if (!POLICY_KINDS.some(([k]) => k === texts.policy)) errors.policy = 'Choose a policy.';
  if (!CURRENCIES.includes(texts.currency)) errors.currency = 'EUR or DKK.';
  for (const f of POLICY_FIELDS) {
    const r = parseField(f, texts[f.key]);
    if (r.error) {
      errors[f.key] = r.error;
      continue;
    }
    values[f.key] = r.value;
    if (r.value !== base[f.key]) changes[f.key] = r.value;
  }
  if (!errors.idle_watts && !errors.max_watts && values.max_watts < values.idle_watts)
    errors.max_watts = `Not below the idle power (${values.idle_watts} W).`;
  return { errors, changes };
}

export function policyTexts(p) {
  const t = { policy: p.policy, currency: p.currency };
  for (const f of POLICY_FIELDS) t[f.key] = fieldText(f, p[f.key]);
  return t;
}

// Which field a refusal of PATCH /api/v1/policy is about: the controller's
// messages start with the setting's name ("min_gain_pct must be between 0 and
// 1000", "max_watts (200) must not be below idle_watts (300)").
export function fieldOfPolicyError(message) {
  const m = /^([a-z_]+)\b/.exec(message || '');
  return m && KEYS.includes(m[1]) ? m[1] : null;
}
