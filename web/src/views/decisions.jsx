// The automatic-migration policy's decisions: what it would move now and why
// (GET /api/v1/plan, which moves nothing), and every decision it stored (GET
// /api/v1/decisions, filtered and paged on the controller), each with its
// reason, compared values, estimated saving, inputs, alternatives and the
// migration it started. New decisions appear live (policy.* events).
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, qs } from '../api.js';
import { Empty, ErrorNote, Loading, Pager } from '../components.jsx';
import { DecisionCard } from '../energy.jsx';
import { when } from '../format.js';
import { useLiveReload } from '../live.js';
import { navigate } from '../router.js';
import { nameProblem } from '../specs.js';

const PAGE = 20;
const ACTIONS = [
  ['', 'any'],
  ['move', 'move'],
  ['blocked', 'blocked'],
  ['stay', 'stay'],
];
const PLAN_EVENTS = ['policy.changed', 'policy.move', 'policy.decision', 'policy.hold', 'host.changed',
  'workload.changed', 'workload.created', 'workload.deleted', 'workload.moved', 'migration.finished',
  'signal.stale', 'signal.fresh', 'host.online', 'host.offline'];
const DECISION_EVENTS = ['policy.move', 'policy.decision'];

function Plan() {
  const [all, setAll] = useState(false);
  const [plan, setPlan] = useState(null);
  const [policy, setPolicy] = useState(null);
  const [error, setError] = useState(null);
  const load = useCallback(() => {
    Promise.all([api('GET', `/api/v1/plan${qs({ all: all ? 'true' : '' })}`), api('GET', '/api/v1/policy')])
      .then(([p, pol]) => {
        setPlan(p);
        setPolicy(pol);
        setError(null);
      })
      .catch(setError);
  }, [all]);
  useEffect(load, [load]);
  useLiveReload(load, PLAN_EVENTS, 1000);
  // the plan depends on the policy clock and the hosts' load too
  useEffect(() => {
    const t = setInterval(load, 15000);
    return () => clearInterval(t);
  }, [load]);
  const shown = plan ? plan.decisions : [];
  // moves first, then blocked, then the rest
  const order = { move: 0, blocked: 1, stay: 2 };
  const sorted = [...shown].sort((a, b) => (order[a.action] ?? 3) - (order[b.action] ?? 3));
  return (
    <section class="card" aria-labelledby="plan-title">
      <header class="card-head">
        <h2 id="plan-title">What would move now</h2>
        <button type="button" class="secondary" onClick={load}>
          Refresh
        </button>
      </header>
      {policy && (
        <p class="small">
          Policy <strong>{policy.policy}</strong>
          {policy.policy === 'cheapest' || policy.policy === 'band' ? ` (prices in ${policy.currency})` : ''}, at{' '}
          {plan ? when(plan.time) : '…'} on the policy clock. This is computed now and moves nothing; the policy itself
          runs every {Math.round(policy.interval_ms / 1000)} s. <a href="#/settings">Change the policy</a>.
        </p>
      )}
      <div class="field checkbox">
        <input id="plan-all" type="checkbox" checked={all} onChange={(e) => setAll(e.currentTarget.checked)} />
        <label for="plan-all">Include workloads whose auto-migrate is off</label>
      </div>
      <ErrorNote error={error} />
      {!plan && !error && <Loading what="the plan" />}
      {plan && (
        <p aria-live="polite" id="plan-summary">
          {plan.moves} move(s), {plan.blocked} blocked, of {plan.decisions.length} workload(s) shown.
        </p>
      )}
      {plan && plan.decisions.length === 0 && (
        <Empty>
          No workload concerns the policy now: none has auto-migrate on and no host is draining.
        </Empty>
      )}
      {sorted.length > 0 && (
        <div class="decisions">
          {sorted.map((d) => (
            <DecisionCard key={d.workload} d={d} />
          ))}
        </div>
      )}
    </section>
  );
}

export function Decisions({ params }) {
  const offset = Math.max(0, Number(params.offset) || 0);
  const filters = { workload: params.workload || '', action: params.action || '' };
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [workload, setWorkload] = useState(filters.workload);
  const [workloadError, setWorkloadError] = useState(null);
  const inflight = useRef(null);
  const query = qs({ ...filters, limit: PAGE, offset });
  const load = useCallback(() => {
    if (inflight.current) inflight.current.abort();
    const ctl = new AbortController();
    inflight.current = ctl;
    api('GET', `/api/v1/decisions${query}`, undefined, { signal: ctl.signal })
      .then((r) => {
        setData({ ...r, pageOffset: offset });
        setError(null);
      })
      .catch((e) => e.name !== 'AbortError' && setError(e));
  }, [query]);
  useEffect(load, [load]);
  useLiveReload(load, DECISION_EVENTS, 300);
  useEffect(() => setWorkload(filters.workload), [filters.workload]);

  function set(changes) {
    navigate('/decisions', { ...filters, ...changes, offset: changes.offset || '' }, { replace: true });
  }
  function applyWorkload(e) {
    e.preventDefault();
    const w = workload.trim();
    const p = w ? nameProblem(w) : null;
    setWorkloadError(p);
    if (!p) set({ workload: w });
  }
  return (
    <section aria-labelledby="dec-title">
      <div class="view-head">
        <h1 id="dec-title" tabIndex={-1}>
          Decisions
        </h1>
      </div>
      <Plan />
      <section class="card" aria-labelledby="made-title">
        <header class="card-head">
          <h2 id="made-title">Decisions made</h2>
        </header>
        <p class="small muted">
          The policy stores a decision when it differs from the previous one about the same workload, and every move
          with the migration it started; newest first.
        </p>
        <form class="filters filters-2" role="search" onSubmit={applyWorkload} noValidate>
          <div class={`field${workloadError ? ' field-invalid' : ''}`}>
            <label for="dec-workload">Workload</label>
            <input
              id="dec-workload"
              type="search"
              value={workload}
              maxLength={63}
              placeholder="all workloads"
              onInput={(e) => setWorkload(e.currentTarget.value)}
              aria-invalid={workloadError ? 'true' : undefined}
              aria-describedby={workloadError ? 'dec-workload-error' : undefined}
            />
            {workloadError && (
              <div class="field-error" id="dec-workload-error" role="alert">
                {workloadError}
              </div>
            )}
          </div>
          <div class="field">
            <label for="dec-action">Action</label>
            <select id="dec-action" value={filters.action} onChange={(e) => set({ action: e.currentTarget.value })}>
              {ACTIONS.map(([v, label]) => (
                <option value={v}>{label}</option>
              ))}
            </select>
          </div>
          <div class="field">
            <button type="submit" class="secondary">
              Show
            </button>
          </div>
        </form>
        <ErrorNote error={error} />
        {!data && !error && <Loading what="decisions" />}
        {data && data.decisions.length === 0 && (
          <Empty>
            {filters.workload || filters.action ? 'No decision matches these filters.' : 'The policy has not stored a decision yet.'}
          </Empty>
        )}
        {data && data.decisions.length > 0 && (
          <>
            <div class="decisions">
              {data.decisions.map((d) => (
                <DecisionCard key={d.id} d={d} />
              ))}
            </div>
            <Pager offset={data.pageOffset} limit={PAGE} total={data.total} onPage={(o) => set({ offset: o })} label="decisions" />
          </>
        )}
      </section>
    </section>
  );
}

// One stored decision, with its inputs and alternatives shown.
export function Decision({ id }) {
  const [d, setD] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api('GET', `/api/v1/decisions/${encodeURIComponent(id)}`)
      .then(setD)
      .catch(setError);
  }, [id]);
  if (error)
    return (
      <section>
        <h1 tabIndex={-1}>Decision</h1>
        <ErrorNote error={error} />
        <a href="#/decisions">Back to the decisions</a>
      </section>
    );
  if (!d) return <Loading what="the decision" />;
  // the short form's fields with the whole decision's (detail) figures
  const whole = { ...(d.detail || {}), ...d };
  return (
    <section aria-labelledby="d-title">
      <div class="view-head">
        <h1 id="d-title" tabIndex={-1}>
          Decision about {d.workload}
        </h1>
        <a href={`#/decisions?workload=${encodeURIComponent(d.workload)}`}>Its other decisions</a>
      </div>
      <p class="small muted">
        {when(d.time)} (policy clock {d.policy_time})
      </p>
      <DecisionCard d={whole} open />
    </section>
  );
}
