// One workload: its properties, the tail of its output, where it can migrate (and
// why not elsewhere), its migrations so far and the one running now; its
// auto-migrate switch, the energy it used, and the policy's decisions about it.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, enc, qs } from '../api.js';
import { Badge, Chart, Empty, ErrorNote, Loading, MigrationProgress, toast } from '../components.jsx';
import { DecisionCard, EnergyTotals } from '../energy.jsx';
import { bytes, isTerminal, ms, when } from '../format.js';
import { useLiveEvents, useLiveReload } from '../live.js';
import { navigate } from '../router.js';

const MODES = [
  ['auto', 'auto: the best both hosts can do'],
  ['stop-copy', 'stop-copy: freeze, copy, restore'],
  ['lazy', 'lazy: run on the target at once, memory follows'],
  ['precopy', 'precopy: copy memory while it runs'],
];

function Logs({ name, running }) {
  const [stream, setStream] = useState('stdout');
  const [text, setText] = useState(null);
  const [error, setError] = useState(null);
  const load = useCallback(() => {
    api('GET', `/api/v1/workloads/${enc(name)}/logs?stream=${stream}&tail=16384`, undefined, { text: true })
      .then((t) => {
        setText(t);
        setError(null);
      })
      .catch(setError);
  }, [name, stream]);
  useEffect(load, [load]);
  useEffect(() => {
    if (!running) return undefined;
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, [load, running]);
  return (
    <section class="card" aria-labelledby="logs-title">
      <header class="card-head">
        <h2 id="logs-title">Output</h2>
        <div class="row">
          <label for="log-stream" class="inline">
            Stream
          </label>
          <select id="log-stream" value={stream} onChange={(e) => setStream(e.currentTarget.value)}>
            <option value="stdout">stdout</option>
            <option value="stderr">stderr</option>
          </select>
          <button type="button" class="secondary" onClick={load}>
            Refresh
          </button>
        </div>
      </header>
      <ErrorNote error={error} />
      {text !== null && (text ? <pre class="logs" tabIndex={0} aria-label={`Last lines of ${stream}`}>{text}</pre> : <Empty>Nothing written to {stream} yet.</Empty>)}
    </section>
  );
}

function MigratePanel({ w, onStarted }) {
  const [targets, setTargets] = useState(null);
  const [error, setError] = useState(null);
  const [target, setTarget] = useState('');
  const [mode, setMode] = useState('auto');
  const [busy, setBusy] = useState(false);
  const load = useCallback(() => {
    api('GET', `/api/v1/workloads/${enc(w.name)}/targets`)
      .then((r) => {
        setTargets(r.targets);
        setError(null);
      })
      .catch(setError);
  }, [w.name, w.host]);
  useEffect(load, [load]);
  useLiveReload(load, ['host.online', 'host.offline', 'host.registered', 'host.removed']);
  const chosen = targets && targets.find((t) => t.host === target);
  const modeInfo = chosen && mode !== 'auto' ? chosen.modes[mode] : null;
  const canGo = chosen && chosen.compatible && (!modeInfo || modeInfo.available) && !w.migration && w.state !== 'migrating';
  async function go(e) {
    e.preventDefault();
    if (!canGo) return;
    setBusy(true);
    setError(null);
    try {
      const m = await api('POST', '/api/v1/migrations', { workload: w.name, target, mode });
      toast(`Migrating ${w.name} to ${target} (${m.mode}).`);
      onStarted(m);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <section class="card" aria-labelledby="migrate-title">
      <header class="card-head">
        <h2 id="migrate-title">Migrate</h2>
      </header>
      <ErrorNote error={error} />
      {!targets && !error && <Loading what="hosts" />}
      {targets && targets.length === 0 && <Empty>There is no other host to migrate to.</Empty>}
      {targets && targets.length > 0 && (
        <form onSubmit={go}>
          <fieldset class="targets">
            <legend>Target host</legend>
            {targets.map((t) => (
              <div class={`target${t.compatible ? '' : ' target-no'}`}>
                <input
                  type="radio"
                  name="target"
                  id={`target-${t.host}`}
                  value={t.host}
                  checked={target === t.host}
                  disabled={!t.compatible}
                  onChange={() => setTarget(t.host)}
                  aria-describedby={`target-${t.host}-why`}
                />
                <label for={`target-${t.host}`}>
                  <strong>{t.host}</strong> <Badge state={t.state} />
                </label>
                <div class="why small" id={`target-${t.host}-why`}>
                  {t.compatible ? `compatible: ${t.mode_reason || t.mode}` : `not compatible: ${t.reason}`}
                </div>
              </div>
            ))}
          </fieldset>
          <div class="field">
            <label for="mode">Mode</label>
            <select id="mode" value={mode} onChange={(e) => setMode(e.currentTarget.value)} aria-describedby="mode-why">
              {MODES.map(([v, label]) => (
                <option value={v} disabled={chosen && v !== 'auto' && chosen.modes[v] && !chosen.modes[v].available}>
                  {label}
                </option>
              ))}
            </select>
            <div class="hint" id="mode-why">
              {modeInfo ? (modeInfo.available ? `${mode}: available` : `${mode} is not available: ${modeInfo.reason}`) : 'auto picks the mode with the least downtime that both hosts support.'}
            </div>
          </div>
          <button type="submit" disabled={!canGo || busy}>
            {busy ? 'Starting…' : target ? `Migrate to ${target}` : 'Choose a target host'}
          </button>
          {(w.migration || w.state === 'migrating') && <p class="small muted">A migration of this workload is running.</p>}
        </form>
      )}
    </section>
  );
}

function History({ name, current }) {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const load = useCallback(() => {
    api('GET', `/api/v1/migrations?workload=${enc(name)}&limit=100`)
      .then((r) => {
        setList(r.migrations);
        setError(null);
      })
      .catch(setError);
  }, [name]);
  useEffect(load, [load, current]);
  useLiveReload(load, ['migration.created', 'migration.finished', 'migration.phase']);
  const committed = (list || []).filter((m) => m.state === 'committed' && m.downtime_ms !== null).reverse();
  return (
    <section class="card" aria-labelledby="history-title">
      <header class="card-head">
        <h2 id="history-title">Migrations</h2>
      </header>
      <ErrorNote error={error} />
      {list && list.length === 0 && <Empty>This workload has not migrated yet.</Empty>}
      {committed.length >= 2 && (
        <Chart
          title="Downtime of its committed migrations"
          yLabel="downtime (ms)"
          points={committed.map((m) => ({ x: Date.parse(m.created) / 1000, y: m.downtime_ms }))}
        />
      )}
      {list && list.length > 0 && (
        <div class="table-wrap">
          <table class="list">
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">From → to</th>
                <th scope="col">Mode</th>
                <th scope="col">State</th>
                <th scope="col">Downtime</th>
                <th scope="col" class="opt">
                  Moved
                </th>
                <th scope="col" class="opt">
                  Total
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((m) => (
                <tr key={m.id}>
                  <td>
                    <a href={`#/migrations/${m.id}`}>{when(m.created)}</a>
                  </td>
                  <td>
                    {m.source} → {m.target}
                  </td>
                  <td>{m.mode}</td>
                  <td>
                    <Badge state={m.state} />
                    {m.error && <div class="small error-text">{m.error}</div>}
                  </td>
                  <td>{ms(m.downtime_ms)}</td>
                  <td class="opt">{bytes(m.bytes)}</td>
                  <td class="opt">{ms(m.total_ms)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Running({ id, onEnd }) {
  const [m, setM] = useState(null);
  const load = useCallback(() => {
    api('GET', `/api/v1/migrations/${id}`).then(setM).catch(() => {});
  }, [id]);
  useEffect(load, [load]);
  useLiveEvents(
    (e) => {
      if (e.migration !== id) return;
      if (e.type === 'migration.progress') setM((x) => x && { ...x, state: e.phase, bytes: e.bytes, images_bytes: e.images_bytes });
      else load();
      if (e.type === 'migration.finished') onEnd();
    },
    ['migration.phase', 'migration.progress', 'migration.finished'],
  );
  if (!m) return null;
  return (
    <section class="card running" aria-labelledby="running-title">
      <header class="card-head">
        <h2 id="running-title">
          Migrating to {m.target} ({m.mode})
        </h2>
        <a href={`#/migrations/${m.id}`}>Details</a>
      </header>
      <MigrationProgress m={m} />
      <p class="small">
        {bytes(m.bytes)} sent{m.images_bytes ? ` of ${bytes(m.images_bytes)}` : ''}
      </p>
      {!isTerminal(m.state) && <CancelButton m={m} />}
    </section>
  );
}

export function CancelButton({ m }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  async function cancel() {
    if (!window.confirm(`Cancel the migration of ${m.workload} to ${m.target}? It stays on ${m.source}.`)) return;
    setBusy(true);
    try {
      await api('POST', `/api/v1/migrations/${m.id}/cancel`);
      toast(`Cancelling the migration of ${m.workload}…`);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  return (
    <>
      <button type="button" class="danger" disabled={busy} onClick={cancel} aria-label={`Cancel the migration of ${m.workload}`}>
        {busy ? 'Cancelling…' : 'Cancel migration'}
      </button>
      <ErrorNote error={error} />
    </>
  );
}

const DECISION_EVENTS = ['policy.move', 'policy.decision', 'policy.changed', 'policy.hold', 'workload.changed',
  'host.changed', 'migration.finished', 'signal.stale', 'signal.fresh'];

// Automatic migration and energy: the auto-migrate switch (PATCH
// /api/v1/workloads/NAME), the energy, CO2 and cost it used, and what the policy
// would do with it now (GET /api/v1/plan?workload=NAME, moving nothing).
function PolicyCard({ w, onChange }) {
  const [energy, setEnergy] = useState(null);
  const [policy, setPolicy] = useState(null);
  const [plan, setPlan] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  // the switch shows what was asked at once, and goes back if the controller refuses
  const [on, setOn] = useState(Boolean(w.auto_migrate));
  useEffect(() => setOn(Boolean(w.auto_migrate)), [w.auto_migrate]);
  const load = useCallback(() => {
    Promise.all([
      api('GET', '/api/v1/energy'),
      api('GET', '/api/v1/policy'),
      api('GET', `/api/v1/plan${qs({ workload: w.name, all: 'true' })}`),
    ])
      .then(([e, p, pl]) => {
        setEnergy(e);
        setPolicy(p);
        setPlan(pl.decisions[0] || null);
        setError(null);
      })
      .catch(setError);
  }, [w.name]);
  useEffect(load, [load, w.host, w.state, w.auto_migrate]);
  useLiveReload(load, DECISION_EVENTS, 500);
  async function toggle(e) {
    const want = e.currentTarget.checked;
    setOn(want);
    setBusy(true);
    try {
      const r = await api('PATCH', `/api/v1/workloads/${enc(w.name)}`, { auto_migrate: want });
      toast(`Auto-migrate is ${r.auto_migrate ? 'on' : 'off'} for ${w.name}.`, 'ok');
      onChange(r);
    } catch (err) {
      setOn(!want);
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  const currency = policy ? policy.currency : 'EUR';
  return (
    <section class="card" aria-labelledby="auto-title">
      <header class="card-head">
        <h2 id="auto-title">Automatic migration and energy</h2>
        <a href="#/settings">Policy settings</a>
      </header>
      <div class="field checkbox">
        <input id="w-auto" type="checkbox" checked={on} disabled={busy} onChange={toggle} aria-describedby="w-auto-hint" />
        <label for="w-auto">Auto-migrate</label>
      </div>
      <div class="hint" id="w-auto-hint">
        {policy ? (
          policy.policy === 'none' ? (
            'On: the policy may move it by itself. The policy is none now: nothing moves by itself (a draining host is still emptied).'
          ) : (
            `On: the ${policy.policy} policy may move it by itself, live. Off: it moves only when someone migrates it, or its host drains.`
          )
        ) : (
          'On: the policy may move it by itself, live.'
        )}
      </div>
      <ErrorNote error={error} />
      <dl class="props">
        <EnergyTotals t={energy && energy.workload[w.name]} power={energy && energy.power_w.workload[w.name]} currency={currency} />
      </dl>
      <h3>What the policy would do now</h3>
      {!plan && !error && <Loading what="the plan" />}
      {plan && <DecisionCard d={plan} showWorkload={false} />}
    </section>
  );
}

// The policy's stored decisions about this workload, newest first.
function Decisions({ name }) {
  const [list, setList] = useState(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState(null);
  const load = useCallback(() => {
    api('GET', `/api/v1/decisions${qs({ workload: name, limit: 10 })}`)
      .then((r) => {
        setList(r.decisions);
        setTotal(r.total);
        setError(null);
      })
      .catch(setError);
  }, [name]);
  useEffect(load, [load]);
  useLiveReload(load, ['policy.move', 'policy.decision'], 300);
  return (
    <section class="card" aria-labelledby="decisions-title">
      <header class="card-head">
        <h2 id="decisions-title">Policy decisions</h2>
        {total > 0 && (
          <a href={`#/decisions?workload=${enc(name)}`}>
            {total > (list ? list.length : 0) ? `All ${total}` : 'In the decisions view'}
          </a>
        )}
      </header>
      <ErrorNote error={error} />
      {!list && !error && <Loading what="decisions" />}
      {list && list.length === 0 && (
        <Empty>The policy has not decided anything about this workload yet (it records a decision when it changes).</Empty>
      )}
      {list && list.length > 0 && (
        <div class="decisions">
          {list.map((d) => (
            <DecisionCard key={d.id} d={d} showWorkload={false} />
          ))}
        </div>
      )}
    </section>
  );
}

export function Workload({ name }) {
  const [w, setW] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [tick, setTick] = useState(0);
  const load = useCallback(() => {
    api('GET', `/api/v1/workloads/${enc(name)}`)
      .then((x) => {
        setW(x);
        setError(null);
      })
      .catch(setError);
  }, [name]);
  useEffect(load, [load]);
  useLiveReload(
    load,
    ['workload.state', 'workload.moved', 'workload.deleted', 'workload.reconciled', 'workload.conflict', 'workload.failed',
      'migration.created', 'migration.finished', 'workload.changed'],
  );
  async function act(action) {
    setBusy(true);
    try {
      if (action === 'delete') {
        if (!window.confirm(`Stop and remove ${name}? Its state is lost.`)) return;
        await api('DELETE', `/api/v1/workloads/${enc(name)}`);
        toast(`${name} removed.`);
        navigate('/workloads');
        return;
      }
      setW(await api('POST', `/api/v1/workloads/${enc(name)}/${action}`));
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  }
  if (error && !w) {
    return (
      <section>
        <h1 tabIndex={-1}>{name}</h1>
        <ErrorNote error={error} />
        <a href="#/workloads">Back to the workloads</a>
      </section>
    );
  }
  if (!w) return <Loading what={name} />;
  return (
    <section aria-labelledby="w-title">
      <div class="view-head">
        <h1 id="w-title" tabIndex={-1}>
          {w.name} <Badge state={w.state} />
        </h1>
        <div class="row">
          {w.state === 'running' && (
            <button type="button" class="secondary" disabled={busy} onClick={() => act('stop')}>
              Stop
            </button>
          )}
          {w.state === 'stopped' && (
            <button type="button" class="secondary" disabled={busy} onClick={() => act('start')}>
              Start
            </button>
          )}
          <button type="button" class="danger" disabled={busy || w.state === 'migrating'} onClick={() => act('delete')}>
            Remove
          </button>
        </div>
      </div>
      <ErrorNote error={error} />
      {w.note && <div class="note">{w.note}</div>}
      <div class="columns">
        <section class="card" aria-labelledby="props-title">
          <header class="card-head">
            <h2 id="props-title">Properties</h2>
          </header>
          <dl class="props">
            <dt>Kind</dt>
            <dd>{w.kind}</dd>
            <dt>Host</dt>
            <dd>{w.host}</dd>
            <dt>State</dt>
            <dd>
              <Badge state={w.state} />
              {w.error && <div class="small error-text">{w.error}</div>}
            </dd>
            {w.copies && w.copies.length > 0 && (
              <>
                <dt>Copies on</dt>
                <dd>{w.copies.join(', ')}</dd>
              </>
            )}
            <dt>PID</dt>
            <dd>{w.pid || '–'}</dd>
            <dt>Memory</dt>
            <dd>{w.rss_bytes ? bytes(w.rss_bytes) : '–'}</dd>
            <dt>CPU</dt>
            <dd>{w.cpu_percent !== undefined ? `${Number(w.cpu_percent).toFixed(1)} %` : '–'}</dd>
            <dt>Auto-migrate</dt>
            <dd>{w.auto_migrate ? 'on' : 'off'}</dd>
            <dt>Created</dt>
            <dd>{when(w.created)}</dd>
            <dt>Id</dt>
            <dd class="mono small">{w.id}</dd>
          </dl>
          <details>
            <summary>Spec</summary>
            <pre class="spec">{JSON.stringify(w.spec, null, 2)}</pre>
          </details>
        </section>
        <MigratePanel w={w} onStarted={() => { load(); setTick((t) => t + 1); }} />
      </div>
      {w.migration && <Running id={w.migration} onEnd={() => { load(); setTick((t) => t + 1); }} />}
      <div class="columns">
        <PolicyCard w={w} onChange={(r) => setW((x) => ({ ...x, auto_migrate: r.auto_migrate }))} />
        <Decisions name={w.name} />
      </div>
      <History name={w.name} current={tick} />
      <Logs name={w.name} running={w.state === 'running'} />
    </section>
  );
}
