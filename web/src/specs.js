// What "paste JSON" accepts. Each format says whether a pasted object is in it
// and turns it into the body of POST /api/v1/workloads; the first that claims the
// object wins. Another format (the old system's workload spec, once the
// controller imports it) is one more entry here.

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
    label: "the old system's workload spec",
    claims: (obj) => OLD_SYSTEM_KEYS.some((k) => k in obj),
    toRequest() {
      return {
        errors: {
          json: "This is the old system's workload spec (Identifier, Type, …). This controller does not import it yet: write it as flyt's workload.",
        },
      };
    },
  },
];

// Parses text as one JSON object; errors say where.
export function parseJson(text) {
  if (!text.trim()) return { error: 'Paste a JSON object.' };
  try {
    const obj = JSON.parse(text);
    if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return { error: 'The JSON must be an object ({…}).' };
    return { obj };
  } catch (e) {
    const m = /position (\d+)/.exec(e.message);
    if (m) {
      const pos = Number(m[1]);
      const before = text.slice(0, pos);
      const line = before.split('\n').length;
      const col = pos - before.lastIndexOf('\n');
      return { error: `Not valid JSON at line ${line}, column ${col}: ${e.message}` };
    }
    return { error: `Not valid JSON: ${e.message}` };
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
  if (/^no host|host \S+ is offline|cannot run/.test(m)) return 'host';
  if (/spec|cmd|payload|delay_ms|"fail"/.test(m)) return 'spec';
  return null;
}
