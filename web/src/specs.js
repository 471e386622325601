// What "paste JSON" accepts. Each format says whether a pasted object is in it
// and turns it into the request of POST /api/v1/workloads (its body, and the
// query: the old system's spec names no host, so ?host= says where); the first
// that claims the object wins.

const NAME_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export function nameProblem(name) {
  if (!name) return 'Give the workload a name.';
  if (name.length > 63) return 'At most 63 characters.';
  if (!NAME_RE.test(name)) return 'Use a-z, 0-9, ".", "_" and "-", starting with a letter or digit.';
  return null;
}

const FLYT_KEYS = ['name', 'kind', 'host', 'spec', 'start'];
const OLD_SYSTEM_KEYS = ['Identifier', 'AccessIP', 'AccessPort', 'AutoMigrate', 'Available', 'SharedDir', 'Type',
  'Containerproperties', 'VMProperties'];

export const FORMATS = [
  {
    id: 'flyt',
    label: "flyt's workload (name, kind, host, spec)",
    claims: (obj) => FLYT_KEYS.some((k) => k in obj),
    // -> {body} or {errors: {field: message}}
    toRequest(obj, { host }) {
      const errors = {};
      const unknown = Object.keys(obj).filter((k) => !FLYT_KEYS.includes(k));
      if (unknown.length) errors.json = `Unknown field${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (known: ${FLYT_KEYS.join(', ')}).`;
      const body = { ...obj };
      if (!body.host && host) body.host = host;
      const np = nameProblem(body.name);
      if (np) errors.json = errors.json || `"name": ${np}`;
      if (typeof body.kind !== 'string' || !body.kind) errors.json = errors.json || '"kind" is missing (process, fake, …).';
      if (!body.host) errors.host = 'Choose the host, or give "host" in the JSON.';
      if (typeof body.spec !== 'object' || body.spec === null || Array.isArray(body.spec))
        errors.json = errors.json || '"spec" must be an object (the kind\'s settings).';
      return Object.keys(errors).length ? { errors } : { body };
    },
  },
  {
    id: 'old-system',
    label: "the old system's workload spec (Identifier, Type, …)",
    claims: (obj) => OLD_SYSTEM_KEYS.some((k) => k in obj),
    // The controller converts it (src/controller/legacy.c): a "Container" adopts
    // that container from the host's Docker, a "VM" that domain from its libvirt.
    // Checked here: what can be told without the host; the rest is the
    // controller's to say (and shows at the field too).
    toRequest(obj, { host }) {
      const errors = {};
      const unknown = Object.keys(obj).filter((k) => !OLD_SYSTEM_KEYS.includes(k));
      if (unknown.length)
        errors.json = `Unknown field${unknown.length > 1 ? 's' : ''} of the old system's spec: ${unknown.join(', ')} (known: ${OLD_SYSTEM_KEYS.join(', ')}).`;
      if (typeof obj.Identifier !== 'string' || !obj.Identifier) errors.json = errors.json || 'The old system\'s spec needs "Identifier" (the workload\'s name).';
      else {
        const np = nameProblem(obj.Identifier);
        if (np) errors.json = errors.json || `"Identifier" is not a usable workload name: ${np}`;
      }
      const type = typeof obj.Type === 'string' ? obj.Type.toLowerCase() : '';
      if (type !== 'container' && type !== 'vm') errors.json = errors.json || '"Type" must be "Container" or "VM".';
      if (!host) errors.host = "The old system's spec names no host: choose the host it is on (its container or VM is adopted from there).";
      return Object.keys(errors).length ? { errors } : { body: obj, query: { host } };
    },
  },
];

function lineCol(text, pos) {
  const before = text.slice(0, pos);
  return [before.split('\n').length, pos - before.lastIndexOf('\n')];
}

// Where JSON.parse stopped: engines say it differently, or not at all (then the
// longest prefix that is still a valid beginning tells).
function errorPosition(text, message) {
  let m = /line (\d+) column (\d+)/.exec(message);
  if (m) return [Number(m[1]), Number(m[2])];
  m = /position (\d+)/.exec(message);
  if (m) return lineCol(text, Number(m[1]));
  if (text.length > 20000) return null;
  // a prefix that fails only at its very end is a valid beginning
  const truncated = (e, n) => {
    const p = /position (\d+)/.exec(e.message);
    return /end of (JSON input|data)|Unterminated/i.test(e.message) || (p && Number(p[1]) >= n);
  };
  for (let n = 1; n <= text.length; n++) {
    try {
      JSON.parse(text.slice(0, n));
    } catch (e) {
      if (!truncated(e, n)) return lineCol(text, n - 1);
    }
  }
  return null;
}

// Parses text as one JSON object; errors say where.
export function parseJson(text) {
  if (!text.trim()) return { error: 'Paste a JSON object.' };
  try {
    const obj = JSON.parse(text);
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return { error: 'The JSON must be an object ({…}).' };
    return { obj };
  } catch (e) {
    const at = errorPosition(text, e.message);
    return { error: at ? `Not valid JSON at line ${at[0]}, column ${at[1]}: ${e.message}` : `Not valid JSON: ${e.message}` };
  }
}

export function requestFromJson(text, ctx) {
  const { obj, error } = parseJson(text);
  if (error) return { errors: { json: error } };
  const fmt = FORMATS.find((f) => f.claims(obj));
  if (!fmt) return { errors: { json: `Not a workload in a format this page knows: ${FORMATS.map((f) => f.label).join('; ')}.` } };
  return { format: fmt.id, ...fmt.toRequest(obj, ctx) };
}

// Which field a message of the controller is about, so that it shows there.
export function fieldOfServerError(message) {
  const m = message || '';
  if (/workload name|a workload named/.test(m)) return 'name';
  if (/^no host|host \S+ is offline|cannot run|names no host|driver is not available/.test(m)) return 'host';
  if (/spec|cmd|payload|delay_ms|"fail"/.test(m)) return 'spec';
  return null;
}
