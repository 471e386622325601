// Workloads: search and filters on the server, one page at a time, so that the
// view costs the same with ten workloads or ten thousand.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, qs } from '../api.js';
import { Badge, Empty, ErrorNote, Loading, Pager } from '../components.jsx';
import { ago, bytes } from '../format.js';
import { useLiveReload } from '../live.js';
import { href, navigate } from '../router.js';

const PAGE_SIZES = [25, 50, 100, 200];
const STATES = ['running', 'stopped', 'migrating', 'failed', 'creating', 'unknown'];
const KINDS = ['process', 'runc', 'docker', 'podman', 'qemu', 'libvirt', 'fake'];
const EVENTS = ['workload.created', 'workload.state', 'workload.deleted', 'workload.moved', 'workload.reconciled',
  'workload.conflict', 'workload.failed', 'migration.finished',
  'migration.created'];

export function Workloads({ params }) {
  const limit = PAGE_SIZES.includes(Number(params.limit)) ? Number(params.limit) : 50;
  const offset = Math.max(0, Number(params.offset) || 0);
  const filters = { q: params.q || '', host: params.host || '', kind: params.kind || '', state: params.state || '' };
  const [data, setData] = useState(null);
  const [hosts, setHosts] = useState([]);
  const [error, setError] = useState(null);
  const [q, setQ] = useState(filters.q);
  const inflight = useRef(null);

  const query = qs({ ...filters, limit, offset });
  const load = useCallback(() => {
    if (inflight.current) inflight.current.abort();
    const ctl = new AbortController();
    inflight.current = ctl;
    api('GET', `/api/v1/workloads${query}`, undefined, { signal: ctl.signal })
      .then((r) => {
        // the page it is, so that the pager never describes a page still loading
        setData({ ...r, pageOffset: offset, pageLimit: limit });
        setError(null);
      })
      .catch((e) => e.name !== 'AbortError' && setError(e));
  }, [query]);
  useEffect(load, [load]);
  useLiveReload(load, EVENTS, 400);
  useEffect(() => {
    api('GET', '/api/v1/hosts').then((r) => setHosts(r.hosts.map((h) => h.name))).catch(() => {});
  }, []);
  useEffect(() => setQ(filters.q), [filters.q]);

  function set(changes) {
    navigate('/workloads', { ...filters, limit: limit === 50 ? '' : limit, ...changes, offset: changes.offset || '' }, { replace: true });
  }
  // the search box applies a moment after typing stops
  useEffect(() => {
    if (q === filters.q) return undefined;
    const t = setTimeout(() => set({ q }), 250);
    return () => clearTimeout(t);
  }, [q]);

  const total = data ? data.total : 0;
  return (
    <section aria-labelledby="wl-title">
      <div class="view-head">
        <h1 id="wl-title" tabIndex={-1}>
          Workloads
        </h1>
        <a class="button" href="#/add">
          Add workload
        </a>
      </div>
      <form class="filters" role="search" onSubmit={(e) => { e.preventDefault(); set({ q }); }}>
        <div class="field">
          <label for="wl-q">Search by name</label>
          <input id="wl-q" type="search" value={q} placeholder="name contains…" onInput={(e) => setQ(e.currentTarget.value)} maxLength={63} />
        </div>
        <div class="field">
          <label for="wl-host">Host</label>
          <select id="wl-host" value={filters.host} onChange={(e) => set({ host: e.currentTarget.value })}>
            <option value="">all</option>
            {hosts.map((h) => (
              <option value={h}>{h}</option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="wl-kind">Kind</label>
          <select id="wl-kind" value={filters.kind} onChange={(e) => set({ kind: e.currentTarget.value })}>
            <option value="">all</option>
            {KINDS.map((k) => (
              <option value={k}>{k}</option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="wl-state">State</label>
          <select id="wl-state" value={filters.state} onChange={(e) => set({ state: e.currentTarget.value })}>
            <option value="">all</option>
            {STATES.map((s) => (
              <option value={s}>{s}</option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="wl-size">Per page</label>
          <select id="wl-size" value={String(limit)} onChange={(e) => set({ limit: e.currentTarget.value })}>
            {PAGE_SIZES.map((n) => (
              <option value={String(n)}>{n}</option>
            ))}
          </select>
        </div>
      </form>
      <ErrorNote error={error} />
      {!data && !error && <Loading what="workloads" />}
      {data && data.workloads.length === 0 && (
        <Empty>
          {filters.q || filters.host || filters.kind || filters.state ? 'No workload matches these filters.' : 'No workloads yet.'}{' '}
          <a href="#/add">Add one</a>.
        </Empty>
      )}
      {data && data.workloads.length > 0 && (
        <>
          <div class="table-wrap">
            <table class="list" aria-describedby="wl-count">
              <caption id="wl-count" class="sr-only">
                Workloads {data.pageOffset + 1} to {Math.min(data.pageOffset + data.pageLimit, total)} of {total}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Kind</th>
                  <th scope="col">Host</th>
                  <th scope="col">State</th>
                  <th scope="col" class="opt">
                    Memory
                  </th>
                  <th scope="col" class="opt">
                    Auto-migrate
                  </th>
                  <th scope="col" class="opt">
                    Updated
                  </th>
                </tr>
              </thead>
              <tbody>
                {data.workloads.map((w) => (
                  <tr key={w.name}>
                    <td>
                      <a href={`#/workloads/${encodeURIComponent(w.name)}`}>{w.name}</a>
                    </td>
                    <td>{w.kind}</td>
                    <td>
                      <a href={href('/workloads', { host: w.host })}>{w.host}</a>
                    </td>
                    <td>
                      <Badge state={w.state} />
                    </td>
                    <td class="opt">{w.rss_bytes ? bytes(w.rss_bytes) : '–'}</td>
                    <td class="opt">{w.auto_migrate ? 'on' : 'off'}</td>
                    <td class="opt">{ago(w.updated)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager offset={data.pageOffset} limit={data.pageLimit} total={total} label="workloads" onPage={(o) => set({ offset: o })} />
        </>
      )}
    </section>
  );
}
