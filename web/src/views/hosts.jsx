// Hosts: which are online, what they can do, how loaded they are; their
// electricity area (editable), power model, the area's signal now, the energy
// they used, and draining them.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, enc } from '../api.js';
import { Badge, Empty, ErrorNote, Field, Loading, toast } from '../components.jsx';
import { EnergyTotals, SignalNow } from '../energy.jsx';
import { ago, bytes, parseNumber, watts } from '../format.js';
import { useLiveReload } from '../live.js';
import { href } from '../router.js';

const HOST_EVENTS = ['host.registered', 'host.online', 'host.offline', 'host.removed', 'host.changed',
  'workload.created', 'workload.deleted', 'workload.moved', 'workload.reconciled', 'policy.changed',
  'signal.stale', 'signal.fresh'];

const AREA_RE = /^[A-Za-z0-9_-]{1,15}$/;

function wattsText(v) {
  return v === null || v === undefined ? '' : String(v);
}

// The host's area and power model: PATCH /api/v1/hosts/NAME with what changed.
// An empty area goes back to the agent's (flytd --area); empty watts to the
// policy's defaults.
function HostSettings({ h, defaults }) {
  const initial = () => ({
    area: h.area_source === 'set' ? h.area : '',
    idle: wattsText(h.power && h.power.idle_watts),
    max: wattsText(h.power && h.power.max_watts),
  });
  const [v, setV] = useState(initial);
  const [errors, setErrors] = useState({});
  const [formError, setFormError] = useState(null);
  const [busy, setBusy] = useState(false);
  const id = (k) => `h-${h.name}-${k}`;
  async function save(e) {
    e.preventDefault();
    setFormError(null);
    const errs = {};
    const body = {};
    const area = v.area.trim();
    if (area && !AREA_RE.test(area)) errs.area = '1-15 of A-Z a-z 0-9 _ - (such as DK1), or empty for the agent’s.';
    const was = initial();
    if (area.toUpperCase() !== was.area.toUpperCase()) body.area = area ? area : null;
    const w = {};
    for (const [k, key] of [['idle', 'idle_watts'], ['max', 'max_watts']]) {
      const t = v[k].trim();
      if (t === '') {
        w[k] = null;
      } else {
        const n = parseNumber(t);
        if (n === null || n < 0 || n > 1e6) {
          errs[k] = 'Watts from 0 to 1,000,000, or empty for the policy’s default.';
          continue;
        }
        w[k] = n;
      }
      if (t !== was[k]) body[key] = w[k];
    }
    if (!errs.idle && !errs.max && w.idle !== null && w.max !== null && w.max < w.idle)
      errs.max = `Not below the idle power (${w.idle} W).`;
    setErrors(errs);
    if (Object.keys(errs).length) {
      const first = ['area', 'idle', 'max'].find((k) => errs[k]);
      document.getElementById(id(first)).focus();
      return;
    }
    if (!Object.keys(body).length) {
      toast(`Nothing to save for ${h.name}.`);
      return;
    }
    setBusy(true);
    try {
      const r = await api('PATCH', `/api/v1/hosts/${enc(h.name)}`, body);
      toast(`${h.name}: area ${r.area || 'none'}, power ${watts(r.power.idle_watts ?? defaults.idle_watts)}–${watts(r.power.max_watts ?? defaults.max_watts)}.`, 'ok');
      setV({ area: r.area_source === 'set' ? r.area : '', idle: wattsText(r.power.idle_watts), max: wattsText(r.power.max_watts) });
    } catch (err) {
      const m = err.message || '';
      const f = /^area/.test(m) ? 'area' : /^idle_watts/.test(m) ? 'idle' : /^max_watts/.test(m) ? 'max' : null;
      if (f && err.status === 400) setErrors({ [f]: m });
      else setFormError(err);
    } finally {
      setBusy(false);
    }
  }
  const input = (k, label, hint, extra) => (
    <Field id={id(k)} label={label} error={errors[k]} hint={hint}>
      <input
        id={id(k)}
        value={v[k]}
        autocomplete="off"
        onInput={(e) => {
          const val = e.currentTarget.value;
          setV((x) => ({ ...x, [k]: val }));
        }}
        aria-invalid={errors[k] ? 'true' : undefined}
        aria-describedby={errors[k] ? `${id(k)}-error` : hint ? `${id(k)}-hint` : undefined}
        {...extra}
      />
    </Field>
  );
  return (
    <form class="host-settings" onSubmit={save} noValidate aria-label={`Area and power model of ${h.name}`}>
      <ErrorNote error={formError} />
      {input('area', 'Electricity area', h.area_source === 'agent' ? `Empty: the agent’s, ${h.area}.` : 'Such as DK1 or DK2; empty: the agent’s (flytd --area).', { maxLength: 15, spellcheck: false })}
      <div class="form-grid-2">
        {input('idle', 'Idle power (W)', `Empty: the policy’s ${defaults.idle_watts} W.`, { inputMode: 'decimal' })}
        {input('max', 'Full-load power (W)', `Empty: the policy’s ${defaults.max_watts} W.`, { inputMode: 'decimal' })}
      </div>
      <button type="submit" disabled={busy}>
        {busy ? 'Saving…' : `Save ${h.name}`}
      </button>
    </form>
  );
}

function DrainButton({ h }) {
  const [busy, setBusy] = useState(false);
  async function toggle() {
    const drain = !h.drain;
    if (drain && !window.confirm(`Drain ${h.name}? Every running workload on it moves to another host, live, and nothing is placed on it until it is undrained.`)) return;
    setBusy(true);
    try {
      await api('PATCH', `/api/v1/hosts/${enc(h.name)}`, { drain });
      toast(drain ? `${h.name} is draining: its workloads move off it.` : `${h.name} takes workloads again.`, 'ok');
    } catch (e) {
      toast(`${h.name}: ${e.message}`, 'error');
    } finally {
      setBusy(false);
    }
  }
  return (
    <button type="button" class={h.drain ? 'secondary' : 'danger'} disabled={busy} onClick={toggle}>
      {h.drain ? `Undrain ${h.name}` : `Drain ${h.name}`}
    </button>
  );
}

function available(obj) {
  return Object.entries(obj || {}).filter(([, v]) => v && v.available).map(([k]) => k);
}

function unavailable(obj) {
  return Object.entries(obj || {}).filter(([, v]) => v && !v.available);
}

/* What of a host's drivers or modes is available, and why the rest is not. */
function Availability({ of }) {
  const missing = unavailable(of);
  return (
    <>
      {available(of).join(', ') || 'none'}
      {missing.length > 0 && (
        <details>
          <summary>{missing.length} unavailable</summary>
          <ul class="reasons">
            {missing.map(([k, v]) => (
              <li>
                <strong>{k}</strong>: {v.reason || 'unavailable'}
              </li>
            ))}
          </ul>
        </details>
      )}
    </>
  );
}

function Memory({ m }) {
  if (!m || !m.total_bytes) return <span>–</span>;
  const used = m.total_bytes - (m.available_bytes || 0);
  const pct = Math.round((used / m.total_bytes) * 100);
  return (
    <div class="meter-wrap">
      <div class="meter" role="meter" aria-label="Memory in use" aria-valuemin="0" aria-valuemax="100" aria-valuenow={String(pct)}>
        <div class="meter-bar" style={{ width: `${pct}%` }} />
      </div>
      <span class="small">
        {bytes(used)} of {bytes(m.total_bytes)} ({pct}%)
      </span>
    </div>
  );
}

function HostCard({ h, signals, energy, policy }) {
  const load = Array.isArray(h.load) ? h.load.map((x) => Number(x).toFixed(2)).join(' · ') : '–';
  return (
    <article class="card host" aria-labelledby={`host-${h.name}`}>
      <header class="card-head">
        <h2 id={`host-${h.name}`}>{h.name}</h2>
        <span class="row">
          {h.drain && <Badge state="draining" />}
          <Badge state={h.state} />
        </span>
      </header>
      <dl class="props">
        <dt>Agent</dt>
        <dd class="mono">{h.url}</dd>
        <dt>Area</dt>
        <dd>
          {h.area || 'none'}{' '}
          <span class="small muted">
            {{ set: '(set here)', agent: '(from its agent)', none: '(none: the energy policies leave it alone)' }[h.area_source] || ''}
          </span>
        </dd>
        <dt>Electricity now</dt>
        <dd>
          <SignalNow area={h.area} signals={signals} currency={policy && policy.currency} />
        </dd>
        <dt>Power model</dt>
        <dd>
          {watts(h.power && h.power.idle_watts !== null ? h.power.idle_watts : policy && policy.idle_watts)} idle,{' '}
          {watts(h.power && h.power.max_watts !== null ? h.power.max_watts : policy && policy.max_watts)} at full load
          {h.cpus ? `, ${h.cpus} CPUs` : ''}
          {h.power && h.power.idle_watts === null && h.power.max_watts === null && <span class="small muted"> (the policy’s defaults)</span>}
        </dd>
        <EnergyTotals t={energy && energy.host[h.name]} power={energy && energy.power_w.host[h.name]} currency={policy && policy.currency} />
        <dt>Workloads</dt>
        <dd>
          <a href={href('/workloads', { host: h.name })}>{h.workloads}</a>
        </dd>
        <dt>Load (1, 5, 15 min)</dt>
        <dd>{load}</dd>
        <dt>Memory</dt>
        <dd>
          <Memory m={h.memory} />
        </dd>
        <dt>Kernel / CRIU</dt>
        <dd>
          {h.kernel || '–'} / {h.criu || 'none'}
        </dd>
        <dt>Drivers</dt>
        <dd>
          <Availability of={h.drivers} />
        </dd>
        <dt>Migration modes</dt>
        <dd>
          <Availability of={h.modes} />
        </dd>
        <dt>Last seen</dt>
        <dd>{ago(h.last_seen)}</dd>
      </dl>
      <div class="row host-actions">
        <DrainButton h={h} />
        {h.drain && <span class="small">Draining: its running workloads move off it; nothing is placed on it.</span>}
      </div>
      {policy && (
        <details class="host-edit">
          <summary>Change the area or the power model of {h.name}</summary>
          <HostSettings key={`${h.area_source}:${h.area}:${h.power && h.power.idle_watts}:${h.power && h.power.max_watts}`} h={h} defaults={policy} />
        </details>
      )}
    </article>
  );
}

export function Hosts() {
  const [hosts, setHosts] = useState(null);
  const [signals, setSignals] = useState(null);
  const [energy, setEnergy] = useState(null);
  const [policy, setPolicy] = useState(null);
  const [error, setError] = useState(null);
  const [energyError, setEnergyError] = useState(null);
  const load = useCallback(() => {
    api('GET', '/api/v1/hosts')
      .then((r) => {
        setHosts(r.hosts);
        setError(null);
      })
      .catch(setError);
    // the energy side: a failure here leaves the hosts shown
    Promise.all([api('GET', '/api/v1/signals'), api('GET', '/api/v1/energy'), api('GET', '/api/v1/policy')])
      .then(([s, e, p]) => {
        setSignals(s);
        setEnergy(e);
        setPolicy(p);
        setEnergyError(null);
      })
      .catch(setEnergyError);
  }, []);
  useEffect(load, [load]);
  useLiveReload(load, HOST_EVENTS);
  // heartbeats change load and memory without events: refresh now and then
  useEffect(() => {
    const t = setInterval(load, 10000);
    return () => clearInterval(t);
  }, [load]);
  const online = hosts ? hosts.filter((h) => h.state === 'online').length : 0;
  const draining = hosts ? hosts.filter((h) => h.drain).length : 0;
  return (
    <section aria-labelledby="hosts-title">
      <div class="view-head">
        <h1 id="hosts-title" tabIndex={-1}>
          Hosts
        </h1>
        {hosts && (
          <p class="muted">
            {online} of {hosts.length} online{draining ? `, ${draining} draining` : ''}
            {policy && (
              <>
                {' '}
                · policy <a href="#/decisions">{policy.policy}</a>
              </>
            )}
          </p>
        )}
      </div>
      <ErrorNote error={error} />
      {energyError && <ErrorNote>The energy figures cannot be shown: {energyError.message}</ErrorNote>}
      {!hosts && !error && <Loading what="hosts" />}
      {hosts && hosts.length === 0 && (
        <Empty>
          No hosts yet. Start <code>flytd --controller URL</code> on a machine, or add one with{' '}
          <code>flyt host add URL</code>.
        </Empty>
      )}
      {hosts && hosts.length > 0 && (
        <div class="grid">
          {hosts.map((h) => (
            <HostCard key={h.name} h={h} signals={signals} energy={energy} policy={policy} />
          ))}
        </div>
      )}
    </section>
  );
}
