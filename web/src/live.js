// Live updates: one EventSource on /api/v1/events for the whole page. Views
// subscribe to event types; the stream reconnects by itself (EventSource sends
// Last-Event-ID, so nothing is missed while the controller holds the events).
import { useEffect, useRef, useState } from 'preact/hooks';

// Every event type the controller publishes (docs/api.md, "Events").
export const EVENT_TYPES = [
  'host.registered', 'host.online', 'host.offline', 'host.removed',
  'workload.created', 'workload.state', 'workload.deleted', 'workload.moved',
  'workload.reconciled', 'workload.conflict', 'workload.failed',
  'migration.created', 'migration.phase', 'migration.progress', 'migration.finished',
  'sessions.revoked',
  // of the energy-aware policy
  'host.changed', 'workload.changed', 'policy.changed', 'policy.move', 'policy.decision', 'policy.hold',
  'signal.stale', 'signal.fresh',
];

const subscribers = new Set();
const statusListeners = new Set();
let source = null;
let status = 'connecting';

function setStatus(s) {
  status = s;
  for (const fn of statusListeners) fn(s);
}

function dispatch(e) {
  let data;
  try {
    data = JSON.parse(e.data);
  } catch {
    return;
  }
  for (const fn of subscribers) fn(data);
}

export function startLive() {
  if (source) return;
  source = new EventSource('/api/v1/events');
  source.onopen = () => setStatus('live');
  source.onerror = () => setStatus(source && source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
  for (const t of EVENT_TYPES) source.addEventListener(t, dispatch);
}

export function stopLive() {
  if (source) source.close();
  source = null;
  setStatus('closed');
}

export function liveStatus() {
  return status;
}

// Calls fn(event) for every event whose type is in types (all when omitted).
export function subscribe(fn, types) {
  const f = types ? (e) => types.includes(e.type) && fn(e) : fn;
  subscribers.add(f);
  return () => subscribers.delete(f);
}

export function useLiveStatus() {
  const [s, setS] = useState(status);
  useEffect(() => {
    statusListeners.add(setS);
    return () => statusListeners.delete(setS);
  }, []);
  return s;
}

// Re-runs reload (at most every `ms`) when an event of the given types arrives.
export function useLiveReload(reload, types, ms = 250) {
  const ref = useRef(reload);
  ref.current = reload;
  useEffect(() => {
    let timer = null;
    const unsub = subscribe(() => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = null;
        ref.current();
      }, ms);
    }, types);
    return () => {
      unsub();
      if (timer) clearTimeout(timer);
    };
  }, [types && types.join(','), ms]);
}

// Calls fn for every event of the given types (for in-place updates).
export function useLiveEvents(fn, types) {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => subscribe((e) => ref.current(e), types), [types && types.join(',')]);
}
