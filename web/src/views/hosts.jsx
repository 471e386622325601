// Hosts: which are online, what they can do, how loaded they are.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { Badge, Empty, ErrorNote, Loading } from '../components.jsx';
import { ago, bytes } from '../format.js';
import { useLiveReload } from '../live.js';
import { href } from '../router.js';

const HOST_EVENTS = ['host.registered', 'host.online', 'host.offline', 'host.removed', 'workload.created',
  'workload.deleted', 'workload.moved', 'workload.reconciled'];

function available(obj) {
  return Object.entries(obj || {}).filter(([, v]) => v && v.available).map(([k]) => k);
}

function unavailable(obj) {
  return Object.entries(obj || {}).filter(([, v]) => v && !v.available);
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

function HostCard({ h }) {
  const load = Array.isArray(h.load) ? h.load.map((x) => Number(x).toFixed(2)).join(' · ') : '–';
  const noModes = unavailable(h.modes);
  const noDrivers = unavailable(h.drivers);
  return (
    <article class="card host" aria-labelledby={`host-${h.name}`}>
      <header class="card-head">
        <h2 id={`host-${h.name}`}>{h.name}</h2>
        <Badge state={h.state} />
      </header>
      <dl class="props">
        <dt>Agent</dt>
        <dd class="mono">{h.url}</dd>
        <dt>Area</dt>
        <dd>{h.area || '–'}</dd>
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
          {available(h.drivers).join(', ') || 'none'}
          {noDrivers.length > 0 && (
            <details>
              <summary>{noDrivers.length} unavailable</summary>
              <ul class="reasons">
                {noDrivers.map(([k, v]) => (
                  <li>
                    <strong>{k}</strong>: {v.reason || 'unavailable'}
                  </li>
                ))}
              </ul>
            </details>
          )}
        </dd>
        <dt>Migration modes</dt>
        <dd>
          {available(h.modes).join(', ') || 'none'}
          {noModes.length > 0 && (
            <details>
              <summary>{noModes.length} unavailable</summary>
              <ul class="reasons">
                {noModes.map(([k, v]) => (
                  <li>
                    <strong>{k}</strong>: {v.reason || 'unavailable'}
                  </li>
                ))}
              </ul>
            </details>
          )}
        </dd>
        <dt>Last seen</dt>
        <dd>{ago(h.last_seen)}</dd>
      </dl>
    </article>
  );
}

export function Hosts() {
  const [hosts, setHosts] = useState(null);
  const [error, setError] = useState(null);
  const load = useCallback(() => {
    api('GET', '/api/v1/hosts')
      .then((r) => {
        setHosts(r.hosts);
        setError(null);
      })
      .catch(setError);
  }, []);
  useEffect(load, [load]);
  useLiveReload(load, HOST_EVENTS);
  // heartbeats change load and memory without events: refresh now and then
  useEffect(() => {
    const t = setInterval(load, 10000);
    return () => clearInterval(t);
  }, [load]);
  const online = hosts ? hosts.filter((h) => h.state === 'online').length : 0;
  return (
    <section aria-labelledby="hosts-title">
      <div class="view-head">
        <h1 id="hosts-title" tabIndex={-1}>
          Hosts
        </h1>
        {hosts && (
          <p class="muted">
            {online} of {hosts.length} online
          </p>
        )}
      </div>
      <ErrorNote error={error} />
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
            <HostCard key={h.name} h={h} />
          ))}
        </div>
      )}
    </section>
  );
}
