// Settings: the controller's own, the browser sessions (and ending them all),
// where the token lives (the token itself is never shown), and the automatic
// migration policy with its thresholds.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../api.js';
import { ErrorNote, Field, Loading, toast } from '../components.jsx';
import { ms, when } from '../format.js';
import { useLiveEvents } from '../live.js';
import {
  CURRENCIES, POLICY_FIELDS, POLICY_GROUPS, POLICY_KINDS, fieldOfPolicyError, policyChanges, policyTexts,
} from '../policy.js';

const POLICY_EVENTS = ['policy.changed'];

// The policy form: GET /api/v1/policy fills it; Save sends only the fields that
// were edited (PATCH /api/v1/policy, all or nothing on the controller's side).
// Mistakes are told at their field before sending, and so are the controller's
// refusals. A change made elsewhere (the CLI, another browser) replaces the
// form when nothing is being edited, and is announced when something is.
function PolicyCard() {
  const [base, setBase] = useState(null); // the settings the form was filled from
  const [texts, setTexts] = useState(null);
  const [status, setStatus] = useState(null);
  const [errors, setErrors] = useState({});
  const [formError, setFormError] = useState(null);
  const [elsewhere, setElsewhere] = useState(false);
  const [busy, setBusy] = useState(false);
  const [focusTick, setFocusTick] = useState(0);
  const dirty = useRef(false);
  const fill = useCallback((p) => {
    setBase(p);
    setTexts(policyTexts(p));
    setErrors({});
    setElsewhere(false);
    dirty.current = false;
  }, []);
  const load = useCallback(() => {
    api('GET', '/api/v1/policy')
      .then((p) => {
        setStatus(p);
        if (!dirty.current) fill(p);
        setFormError(null);
      })
      .catch(setFormError);
  }, [fill]);
  useEffect(load, [load]);
  useLiveEvents(() => {
    if (dirty.current) setElsewhere(true);
    load();
  }, POLICY_EVENTS);
  useEffect(() => {
    if (!focusTick) return;
    const first = document.querySelector('#policy-form [aria-invalid="true"]');
    if (first) first.focus();
  }, [focusTick]);

  const set = (k, v) => {
    dirty.current = true;
    setTexts((t) => ({ ...t, [k]: v }));
  };
  async function save(e) {
    e.preventDefault();
    setFormError(null);
    const { errors: errs, changes } = policyChanges(texts, base);
    setErrors(errs);
    if (Object.keys(errs).length) {
      setFocusTick((t) => t + 1);
      return;
    }
    if (!Object.keys(changes).length) {
      toast('Nothing to save: no setting was changed.');
      return;
    }
    setBusy(true);
    try {
      const p = await api('PATCH', '/api/v1/policy', changes);
      fill(p);
      setStatus((s) => ({ ...s, ...p }));
      toast(`Policy saved: ${p.policy}.`, 'ok');
    } catch (err) {
      const f = fieldOfPolicyError(err.message);
      if (f && err.status >= 400 && err.status < 500) {
        setErrors({ [f]: err.message });
        setFocusTick((t) => t + 1);
      } else {
        setFormError(err);
      }
    } finally {
      setBusy(false);
    }
  }
  const input = (f) => (
    <Field id={`p-${f.key}`} label={f.label} error={errors[f.key]} hint={f.hint}>
      <input
        id={`p-${f.key}`}
        name={f.key}
        value={texts[f.key]}
        inputMode={f.kind === 'duration' ? 'text' : 'decimal'}
        autocomplete="off"
        onInput={(e) => set(f.key, e.currentTarget.value)}
        aria-invalid={errors[f.key] ? 'true' : undefined}
        aria-describedby={errors[f.key] ? `p-${f.key}-error` : f.hint ? `p-${f.key}-hint` : undefined}
      />
    </Field>
  );
  const holds = status && status.holds ? Object.entries(status.holds) : [];
  return (
    <section class="card" aria-labelledby="auto-h">
      <header class="card-head">
        <h2 id="auto-h">Automatic migration</h2>
        <a href="#/decisions">Decisions and what would move now</a>
      </header>
      <p class="small">
        The policy moves, live, the workloads whose auto-migrate flag is on (each workload's page has the switch);
        a draining host is emptied whatever the policy. How each policy decides:{' '}
        <code>docs/energy.md</code>.
      </p>
      {status && (
        <p class="small muted" id="policy-clock">
          Policy clock {when(status.clock && status.clock.now)}
          {status.clock && status.clock.speed !== 1 ? ` (replayed ${status.clock.speed}× faster)` : ''}; it runs every{' '}
          {ms(status.interval_ms)} and has run {status.ticks} time(s).
        </p>
      )}
      {holds.length > 0 && (
        <div class="note" role="status">
          <strong>Held after a failed policy migration:</strong>
          <ul class="reasons">
            {holds.map(([w, h]) => (
              <li>
                <a href={`#/workloads/${encodeURIComponent(w)}`}>{w}</a>: until{' '}
                {h.hold_until_ms ? when(new Date(h.hold_until_ms).toISOString()) : '–'} ({h.failures} failure(s)):{' '}
                {h.reason}
              </li>
            ))}
          </ul>
        </div>
      )}
      <ErrorNote error={formError} />
      {!texts && !formError && <Loading what="the policy" />}
      {texts && (
        <form id="policy-form" class="form-wide" onSubmit={save} noValidate>
          {elsewhere && (
            <div class="note" role="status">
              The policy was changed elsewhere (the CLI or another browser) while you were editing. Saving sends only
              the fields you changed; <em>Undo changes</em> shows the current settings.
            </div>
          )}
          <fieldset>
            <legend>Policy</legend>
            <div class="form-grid">
              <Field id="p-policy" label="Policy" error={errors.policy}>
                <select id="p-policy" value={texts.policy} onChange={(e) => set('policy', e.currentTarget.value)} aria-invalid={errors.policy ? 'true' : undefined}>
                  {POLICY_KINDS.map(([k, label]) => (
                    <option value={k}>{label}</option>
                  ))}
                </select>
              </Field>
              <Field id="p-currency" label="Price in" error={errors.currency} hint="The price cheapest and band compare.">
                <select id="p-currency" value={texts.currency} onChange={(e) => set('currency', e.currentTarget.value)} aria-invalid={errors.currency ? 'true' : undefined}>
                  {CURRENCIES.map((c) => (
                    <option value={c}>{c}/MWh</option>
                  ))}
                </select>
              </Field>
            </div>
          </fieldset>
          {POLICY_GROUPS.map(([g, legend]) => (
            <fieldset>
              <legend>{legend}</legend>
              <div class="form-grid">{POLICY_FIELDS.filter((f) => f.group === g).map(input)}</div>
            </fieldset>
          ))}
          <div class="row">
            <button type="submit" disabled={busy}>
              {busy ? 'Saving…' : 'Save policy'}
            </button>
            <button type="button" class="secondary" disabled={busy} onClick={() => { dirty.current = false; load(); }}>
              Undo changes
            </button>
          </div>
        </form>
      )}
    </section>
  );
}

export function Settings() {
  const [info, setInfo] = useState(null);
  const [sessions, setSessions] = useState(null);
  const [error, setError] = useState(null);
  const load = useCallback(() => {
    Promise.all([api('GET', '/api/v1/info'), api('GET', '/api/v1/sessions')])
      .then(([i, s]) => {
        setInfo(i);
        setSessions(s.sessions);
        setError(null);
      })
      .catch(setError);
  }, []);
  useEffect(load, [load]);
  async function endAll() {
    if (!window.confirm('End every browser session, this one too? Everyone signs in again with the token.')) return;
    try {
      const r = await api('DELETE', '/api/v1/sessions');
      toast(`${r.ended} session(s) ended.`);
      load();
    } catch (e) {
      setError(e);
    }
  }
  return (
    <section aria-labelledby="set-title">
      <div class="view-head">
        <h1 id="set-title" tabIndex={-1}>
          Settings
        </h1>
      </div>
      <ErrorNote error={error} />
      {!info && !error && <Loading what="settings" />}
      {info && (
        <div class="columns">
          <section class="card" aria-labelledby="ctl-h">
            <header class="card-head">
              <h2 id="ctl-h">Controller</h2>
            </header>
            <dl class="props">
              <dt>Version</dt>
              <dd>{info.version}</dd>
              <dt>Listens on</dt>
              <dd class="mono">{info.listen}</dd>
              <dt>Database</dt>
              <dd class="mono">
                {info.db} (schema {info.schema})
              </dd>
              <dt>Host offline after</dt>
              <dd>{ms(info.offline_after_ms)} of silence</dd>
              <dt>Events so far</dt>
              <dd>{info.events_last}</dd>
            </dl>
            <p class="small muted">
              These come from <code>flyt-controller</code>'s options (<code>--listen</code>, <code>--db</code>,{' '}
              <code>--offline-after</code>, <code>--session-ttl</code>) or its <code>--config</code> file.
            </p>
          </section>
          <section class="card" aria-labelledby="tok-h">
            <header class="card-head">
              <h2 id="tok-h">Token and sessions</h2>
            </header>
            <p>
              The cluster token is in <code>{info.token_file}</code> on the controller's host. This page never shows it.
              To replace it, write a new token there (<code>openssl rand -hex 32</code>), give it to every agent and
              client, restart the controller, and end all sessions below.
            </p>
            <p>
              Sessions last {Math.round(info.session_ttl_min / 60)} h; the cookie is{' '}
              {info.cookie_secure ? 'sent over HTTPS only' : 'not marked Secure (use --cookie-secure behind HTTPS)'}.
            </p>
            {!sessions && <Loading what="sessions" />}
            {sessions && (
              <div class="table-wrap">
                <table class="list">
                  <caption class="sr-only">Browser sessions</caption>
                  <thead>
                    <tr>
                      <th scope="col">Signed in</th>
                      <th scope="col">From</th>
                      <th scope="col" class="opt">
                        Browser
                      </th>
                      <th scope="col">Expires</th>
                    </tr>
                  </thead>
                  <tbody>
                    {sessions.map((s) => (
                      <tr>
                        <td>
                          {when(s.created)}
                          {s.current && <strong> (this one)</strong>}
                        </td>
                        <td class="mono">{s.peer}</td>
                        <td class="opt small">{s.agent}</td>
                        <td>{when(s.expires)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            <button type="button" class="danger" onClick={endAll}>
              End all sessions
            </button>
          </section>
        </div>
      )}
      {info && <PolicyCard />}
    </section>
  );
}
