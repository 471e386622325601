// Migrations: the running ones with their progress as the agents report it (and a
// cancel button), the history with its figures, and one migration's journal.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { Badge, Chart, Empty, ErrorNote, Loading, MigrationProgress, Stat } from '../components.jsx';
import { bytes, isTerminal, ms, when } from '../format.js';
import { useLiveEvents, useLiveReload } from '../live.js';
import { CancelButton } from './workload.jsx';

const LIMIT = 500;

function median(xs) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function RunningCard({ m }) {
  return (
    <article class="card running" aria-labelledby={`run-${m.id}`}>
      <header class="card-head">
        <h3 id={`run-${m.id}`}>
          <a href={`#/workloads/${encodeURIComponent(m.workload)}`}>{m.workload}</a>: {m.source} → {m.target}
        </h3>
        <Badge state={m.state} />
      </header>
      <MigrationProgress m={m} />
      <p class="small">
        mode {m.mode} · {bytes(m.bytes)} sent{m.images_bytes ? ` of ${bytes(m.images_bytes)}` : ''} · started {when(m.created)} ·{' '}
        <a href={`#/migrations/${m.id}`}>details</a>
      </p>
      <CancelButton m={m} />
    </article>
  );
}

export function Migrations() {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const load = useCallback(() => {
    api('GET', `/api/v1/migrations?limit=${LIMIT}`)
      .then((r) => {
        setList(r.migrations);
        setError(null);
      })
      .catch(setError);
  }, []);
  useEffect(load, [load]);
  useLiveReload(load, ['migration.created', 'migration.phase', 'migration.finished']);
  useLiveEvents(
    (e) =>
      setList((xs) =>
        xs && xs.map((m) => (m.id === e.migration && !isTerminal(m.state) ? { ...m, state: e.phase, bytes: e.bytes, images_bytes: e.images_bytes } : m)),
      ),
    ['migration.progress'],
  );
  const running = (list || []).filter((m) => !isTerminal(m.state));
  const done = (list || []).filter((m) => isTerminal(m.state));
  const committed = done.filter((m) => m.state === 'committed');
  const downtimes = committed.map((m) => m.downtime_ms).filter((x) => x !== null);
  const chartPoints = committed
    .filter((m) => m.downtime_ms !== null)
    .map((m) => ({ x: Date.parse(m.created) / 1000, y: m.downtime_ms }))
    .reverse();
  return (
    <section aria-labelledby="mig-title">
      <div class="view-head">
        <h1 id="mig-title" tabIndex={-1}>
          Migrations
        </h1>
      </div>
      <ErrorNote error={error} />
      {!list && !error && <Loading what="migrations" />}
      {list && (
        <>
          <section aria-labelledby="running-h">
            <h2 id="running-h">Running ({running.length})</h2>
            {running.length === 0 ? <Empty>No migration is running.</Empty> : running.map((m) => <RunningCard key={m.id} m={m} />)}
          </section>
          <section aria-labelledby="stats-h">
            <h2 id="stats-h">Figures</h2>
            <div class="stats">
              <Stat label="committed" value={committed.length} />
              <Stat label="rolled back" value={done.filter((m) => m.state === 'rolled_back').length} />
              <Stat label="failed" value={done.filter((m) => m.state === 'failed').length} />
              <Stat label="median downtime" value={ms(median(downtimes))} />
              <Stat label="moved in all" value={bytes(committed.reduce((a, m) => a + (m.bytes || 0), 0))} />
            </div>
            {chartPoints.length >= 2 && <Chart title="Downtime of committed migrations" yLabel="downtime (ms)" points={chartPoints} />}
          </section>
          <section aria-labelledby="hist-h">
            <h2 id="hist-h">History</h2>
            {done.length === 0 ? (
              <Empty>No migration has finished yet.</Empty>
            ) : (
              <div class="table-wrap">
                <table class="list">
                  <thead>
                    <tr>
                      <th scope="col">Workload</th>
                      <th scope="col">From → to</th>
                      <th scope="col">State</th>
                      <th scope="col">Downtime</th>
                      <th scope="col" class="opt">
                        Moved
                      </th>
                      <th scope="col" class="opt">
                        Total
                      </th>
                      <th scope="col" class="opt">
                        Mode
                      </th>
                      <th scope="col" class="opt">
                        Started
                      </th>
                    </tr>
                  </thead>
                  <tbody>
                    {done.map((m) => (
                      <tr key={m.id}>
                        <td>
                          <a href={`#/migrations/${m.id}`}>{m.workload}</a>
                        </td>
                        <td>
                          {m.source} → {m.target}
                        </td>
                        <td>
                          <Badge state={m.state} />
                          {m.error && <div class="small error-text">{m.error}</div>}
                        </td>
                        <td>{ms(m.downtime_ms)}</td>
                        <td class="opt">{bytes(m.bytes)}</td>
                        <td class="opt">{ms(m.total_ms)}</td>
                        <td class="opt">{m.mode}</td>
                        <td class="opt">{when(m.created)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            <p class="small muted">The newest {LIMIT} migrations.</p>
          </section>
        </>
      )}
    </section>
  );
}

export function Migration({ id }) {
  const [m, setM] = useState(null);
  const [error, setError] = useState(null);
  const load = useCallback(() => {
    api('GET', `/api/v1/migrations/${encodeURIComponent(id)}`)
      .then((x) => {
        setM(x);
        setError(null);
      })
      .catch(setError);
  }, [id]);
  useEffect(load, [load]);
  useLiveEvents(
    (e) => {
      if (e.migration !== id) return;
      if (e.type === 'migration.progress') setM((x) => x && { ...x, state: e.phase, bytes: e.bytes, images_bytes: e.images_bytes });
      else load();
    },
    ['migration.phase', 'migration.progress', 'migration.finished'],
  );
  if (error && !m)
    return (
      <section>
        <h1 tabIndex={-1}>Migration</h1>
        <ErrorNote error={error} />
      </section>
    );
  if (!m) return <Loading what="the migration" />;
  const failed = m.state === 'rolled_back' || m.state === 'failed';
  return (
    <section aria-labelledby="m-title">
      <div class="view-head">
        <h1 id="m-title" tabIndex={-1}>
          Migration of <a href={`#/workloads/${encodeURIComponent(m.workload)}`}>{m.workload}</a> <Badge state={m.state} />
        </h1>
      </div>
      {failed && (
        <div class="note note-error" role="alert">
          <strong>{m.state === 'failed' ? 'Failed' : 'Rolled back'}:</strong> {m.error || 'no reason recorded'}.{' '}
          {m.state === 'rolled_back' ? `${m.workload} runs on ${m.source} again.` : `Both copies were kept; ${m.workload} is marked failed.`}
        </div>
      )}
      <div class="columns">
        <section class="card" aria-labelledby="m-props">
          <header class="card-head">
            <h2 id="m-props">Summary</h2>
          </header>
          <MigrationProgress m={m} />
          <dl class="props">
            <dt>From → to</dt>
            <dd>
              {m.source} → {m.target}
            </dd>
            <dt>Mode</dt>
            <dd>
              {m.mode} <span class="small muted">({m.mode_reason})</span>
            </dd>
            <dt>Downtime</dt>
            <dd>{ms(m.downtime_ms)}</dd>
            <dt>Total</dt>
            <dd>{ms(m.total_ms)}</dd>
            <dt>Moved</dt>
            <dd>
              {bytes(m.bytes)}
              {m.images_bytes ? ` (images ${bytes(m.images_bytes)})` : ''}
            </dd>
            {m.options && m.options.origin && (
              <>
                <dt>Started by</dt>
                <dd>
                  the policy ({m.options.origin.code}
                  {m.options.origin.policy && m.options.origin.policy !== 'none' ? `, ${m.options.origin.policy}` : ''}):{' '}
                  {m.options.origin.reason}{' '}
                  <a href={`#/decisions?workload=${encodeURIComponent(m.workload)}&action=move`}>its decision</a>
                </dd>
              </>
            )}
            <dt>Started</dt>
            <dd>{when(m.created)}</dd>
            <dt>Finished</dt>
            <dd>{when(m.finished)}</dd>
            {m.note && (
              <>
                <dt>Note</dt>
                <dd>{m.note}</dd>
              </>
            )}
          </dl>
          {!isTerminal(m.state) && <CancelButton m={m} />}
        </section>
        <section class="card" aria-labelledby="m-journal">
          <header class="card-head">
            <h2 id="m-journal">Journal</h2>
          </header>
          <ol class="journal">
            {(m.journal || []).map((j) => (
              <li>
                <Badge state={j.phase} /> <span class="small">{when(j.time)}</span>
                {j.note && <div class="small">{j.note}</div>}
              </li>
            ))}
          </ol>
          {m.phase_ms && Object.keys(m.phase_ms).length > 0 && (
            <>
              <h3>Time per phase</h3>
              <dl class="props">
                {Object.entries(m.phase_ms).map(([p, v]) => (
                  <>
                    <dt>{p}</dt>
                    <dd>{ms(v)}</dd>
                  </>
                ))}
              </dl>
            </>
          )}
        </section>
      </div>
    </section>
  );
}
