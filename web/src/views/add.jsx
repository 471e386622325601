// Add a workload: a form per kind, or pasted JSON. Problems show at their field,
// before sending when this page can tell, after when the controller says so.
import { useEffect, useState } from 'preact/hooks';
import { api, qs } from '../api.js';
import { ErrorNote, Field, toast } from '../components.jsx';
import { navigate } from '../router.js';
import { fieldOfServerError, nameProblem, requestFromJson } from '../specs.js';

const KIND_HELP = {
  process: 'A command run in its own PID namespace, checkpointed with CRIU.',
  fake: 'An in-memory workload of the fake driver, for trying flyt and for tests.',
};

function lines(text) {
  return text.split('\n').map((l) => l.trim()).filter(Boolean);
}

// Per kind: its fields, and how they become a spec (or field errors).
const KINDS = {
  process: {
    initial: { cmd: '', env: '', cwd: '' },
    toSpec(v) {
      const errors = {};
      const cmd = lines(v.cmd);
      if (!cmd.length) errors.cmd = 'Give the program to run (one argument per line).';
      const env = lines(v.env);
      const badEnv = env.find((e) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(e));
      if (badEnv) errors.env = `"${badEnv}" is not NAME=value.`;
      if (v.cwd && !v.cwd.startsWith('/')) errors.cwd = 'The working directory must be an absolute path.';
      const spec = { cmd };
      if (env.length) spec.env = env;
      if (v.cwd) spec.cwd = v.cwd;
      return { spec, errors };
    },
    Fields({ v, set, errors }) {
      return (
        <>
          <Field id="f-cmd" label="Command, one argument per line" error={errors.cmd} hint="e.g. redis-server, then --port, then 6379">
            <textarea id="f-cmd" rows={4} value={v.cmd} onInput={(e) => set({ cmd: e.currentTarget.value })} aria-invalid={errors.cmd ? 'true' : undefined} spellcheck={false} />
          </Field>
          <Field id="f-env" label="Environment, NAME=value per line (optional)" error={errors.env}>
            <textarea id="f-env" rows={3} value={v.env} onInput={(e) => set({ env: e.currentTarget.value })} aria-invalid={errors.env ? 'true' : undefined} spellcheck={false} />
          </Field>
          <Field id="f-cwd" label="Working directory (optional)" error={errors.cwd}>
            <input id="f-cwd" value={v.cwd} onInput={(e) => set({ cwd: e.currentTarget.value })} aria-invalid={errors.cwd ? 'true' : undefined} />
          </Field>
        </>
      );
    },
  },
  fake: {
    initial: { payload: '', fail: '', delay_ms: '' },
    toSpec(v) {
      const errors = {};
      const spec = {};
      if (v.payload) spec.payload = v.payload;
      if (v.fail) spec.fail = v.fail;
      if (v.delay_ms !== '') {
        const n = Number(v.delay_ms);
        if (!Number.isInteger(n) || n < 0 || n > 600000) errors.delay_ms = 'A whole number of milliseconds from 0 to 600000.';
        else spec.delay_ms = n;
      }
      return { spec, errors };
    },
    Fields({ v, set, errors }) {
      return (
        <>
          <Field id="f-payload" label="Payload (the state it carries)" error={errors.payload}>
            <input id="f-payload" value={v.payload} onInput={(e) => set({ payload: e.currentTarget.value })} />
          </Field>
          <Field id="f-fail" label="Fail at (to try failures)" error={errors.fail}>
            <select id="f-fail" value={v.fail} onChange={(e) => set({ fail: e.currentTarget.value })}>
              <option value="">never</option>
              <option value="dump">dump (on the source)</option>
              <option value="restore">restore (on the target)</option>
              <option value="resume">resume</option>
            </select>
          </Field>
          <Field id="f-delay" label="Dump delay in ms (to watch progress or cancel)" error={errors.delay_ms}>
            <input id="f-delay" inputMode="numeric" value={v.delay_ms} onInput={(e) => set({ delay_ms: e.currentTarget.value })} aria-invalid={errors.delay_ms ? 'true' : undefined} />
          </Field>
        </>
      );
    },
  },
};

export function AddWorkload({ params }) {
  const [hosts, setHosts] = useState(null);
  const [mode, setMode] = useState(params.mode === 'json' ? 'json' : 'form');
  const [name, setName] = useState('');
  const [host, setHost] = useState(params.host || '');
  const [kind, setKind] = useState('process');
  const [values, setValues] = useState({ process: KINDS.process.initial, fake: KINDS.fake.initial });
  const [start, setStart] = useState(true);
  const [json, setJson] = useState('');
  const [errors, setErrors] = useState({});
  const [formError, setFormError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [focusTick, setFocusTick] = useState(0);
  // after a failed submit (and its render), focus moves to the first invalid field
  useEffect(() => {
    if (!focusTick) return;
    const first = document.querySelector('#add-form [aria-invalid="true"]');
    if (first) first.focus();
  }, [focusTick]);

  useEffect(() => {
    api('GET', '/api/v1/hosts')
      .then((r) => {
        setHosts(r.hosts);
        if (!host) {
          const first = r.hosts.find((h) => h.state === 'online');
          if (first) setHost(first.name);
        }
      })
      .catch(setFormError);
  }, []);

  const hostInfo = hosts && hosts.find((h) => h.name === host);
  const kinds = Object.keys(KINDS);
  const kindAvailable = (k) => !hostInfo || !hostInfo.drivers || (hostInfo.drivers[k] && hostInfo.drivers[k].available);

  async function submit(e) {
    e.preventDefault();
    setFormError(null);
    let body;
    let query = {};
    const errs = {};
    if (mode === 'form') {
      const np = nameProblem(name);
      if (np) errs.name = np;
      if (!host) errs.host = 'Choose a host.';
      else if (!kindAvailable(kind)) errs.kind = `${host} cannot run ${kind} workloads: ${hostInfo.drivers[kind] ? hostInfo.drivers[kind].reason : 'no such driver'}.`;
      const r = KINDS[kind].toSpec(values[kind]);
      Object.assign(errs, r.errors);
      body = { name, kind, host, spec: r.spec, start };
    } else {
      const r = requestFromJson(json, { host });
      if (r.errors) Object.assign(errs, r.errors);
      body = r.body;
      query = r.query || {};
    }
    setErrors(errs);
    if (Object.keys(errs).length) {
      setFocusTick((t) => t + 1);
      return;
    }
    setBusy(true);
    try {
      const w = await api('POST', `/api/v1/workloads${qs(query)}`, body);
      toast(`${w.name} created on ${w.host}.`, 'ok');
      navigate(`/workloads/${encodeURIComponent(w.name)}`);
    } catch (err) {
      const f = mode === 'json' ? (fieldOfServerError(err.message) === 'host' ? 'host' : 'json') : fieldOfServerError(err.message);
      if (f === 'spec') setErrors({ spec: err.message });
      else if (f) setErrors({ [f]: err.message });
      else setFormError(err);
    } finally {
      setBusy(false);
    }
  }

  const K = KINDS[kind];
  const setVal = (changes) => setValues((all) => ({ ...all, [kind]: { ...all[kind], ...changes } }));
  return (
    <section aria-labelledby="add-title">
      <div class="view-head">
        <h1 id="add-title" tabIndex={-1}>
          Add a workload
        </h1>
      </div>
      <div class="tabs" role="tablist" aria-label="How to describe the workload">
        <button type="button" role="tab" id="tab-form" aria-selected={mode === 'form' ? 'true' : 'false'} aria-controls="add-form" onClick={() => { setMode('form'); setErrors({}); }}>
          Form
        </button>
        <button type="button" role="tab" id="tab-json" aria-selected={mode === 'json' ? 'true' : 'false'} aria-controls="add-form" onClick={() => { setMode('json'); setErrors({}); }}>
          Paste JSON
        </button>
      </div>
      <ErrorNote error={formError} />
      <form id="add-form" class="card form" role="tabpanel" aria-labelledby={mode === 'form' ? 'tab-form' : 'tab-json'} onSubmit={submit} noValidate>
        <Field id="f-host" label="Host" error={errors.host}>
          <select id="f-host" value={host} onChange={(e) => setHost(e.currentTarget.value)} aria-invalid={errors.host ? 'true' : undefined}>
            <option value="">choose…</option>
            {(hosts || []).map((h) => (
              <option value={h.name} disabled={h.state !== 'online'}>
                {h.name}
                {h.state !== 'online' ? ' (offline)' : ''}
              </option>
            ))}
          </select>
        </Field>
        {mode === 'form' && (
          <>
            <Field id="f-name" label="Name" error={errors.name} hint="1-63 of a-z 0-9 . _ -">
              <input id="f-name" value={name} maxLength={63} autocomplete="off" onInput={(e) => setName(e.currentTarget.value)} aria-invalid={errors.name ? 'true' : undefined} aria-describedby={errors.name ? 'f-name-error' : 'f-name-hint'} />
            </Field>
            <Field id="f-kind" label="Kind" error={errors.kind} hint={KIND_HELP[kind]}>
              <select id="f-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value)} aria-invalid={errors.kind ? 'true' : undefined}>
                {kinds.map((k) => (
                  <option value={k}>
                    {k}
                    {kindAvailable(k) ? '' : ' (not on this host)'}
                  </option>
                ))}
              </select>
            </Field>
            <fieldset class="kind-fields">
              <legend>{kind} settings</legend>
              <K.Fields v={values[kind]} set={setVal} errors={errors} />
              {errors.spec && (
                <div class="field-error" role="alert">
                  {errors.spec}
                </div>
              )}
            </fieldset>
            <div class="field checkbox">
              <input id="f-start" type="checkbox" checked={start} onChange={(e) => setStart(e.currentTarget.checked)} />
              <label for="f-start">Start it now</label>
            </div>
          </>
        )}
        {mode === 'json' && (
          <Field id="f-json" label="Workload as JSON" error={errors.json} hint={'flyt\'s form: {"name": "db", "kind": "process", "spec": {"cmd": ["redis-server"]}} ("host" may come from the list above), or the old system\'s workload spec ({"Identifier": …, "Type": "Container", "Containerproperties": {"ContainerID": …}}) on the host chosen above.'}>
            <textarea id="f-json" rows={12} class="mono" spellcheck={false} value={json} onInput={(e) => setJson(e.currentTarget.value)} aria-invalid={errors.json ? 'true' : undefined} />
          </Field>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Creating…' : 'Create workload'}
        </button>
      </form>
    </section>
  );
}
