// Pieces every view uses. Text goes into the page only as text nodes (Preact
// escapes it); nothing here sets HTML from data.
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { PHASES, bytes, isTerminal, ms, stateLabel } from './format.js';

export function Badge({ state }) {
  const s = state || 'unknown';
  return <span class={`badge badge-${s.replace(/[^a-z_]/g, '')}`}>{stateLabel(s)}</span>;
}

export function ErrorNote({ error, children }) {
  if (!error && !children) return null;
  return (
    <div class="note note-error" role="alert">
      {error ? error.message || String(error) : children}
    </div>
  );
}

export function Loading({ what }) {
  return <p class="muted" aria-live="polite">Loading {what}…</p>;
}

export function Empty({ children }) {
  return <p class="empty">{children}</p>;
}

// A labelled form control with its validation message under it.
export function Field({ id, label, error, hint, children }) {
  return (
    <div class={`field${error ? ' field-invalid' : ''}`}>
      <label for={id}>{label}</label>
      {children}
      {hint && !error && <div class="hint" id={`${id}-hint`}>{hint}</div>}
      {error && (
        <div class="field-error" id={`${id}-error`} role="alert">
          {error}
        </div>
      )}
    </div>
  );
}

// How far a migration is: its phase among the phases, and inside the transfer the
// bytes sent against the image size when the source knows it.
export function migrationFraction(m) {
  if (m.state === 'committed') return 1;
  const i = Math.max(0, PHASES.indexOf(m.state));
  let inside = 0;
  if (m.state === 'transferring' && m.images_bytes > 0 && m.bytes > 0) inside = Math.min(1, m.bytes / m.images_bytes);
  return Math.min(0.99, (i + inside) / (PHASES.length - 1));
}

export function MigrationProgress({ m }) {
  const f = migrationFraction(m);
  const done = isTerminal(m.state);
  const label = `Migration of ${m.workload}: ${stateLabel(m.state)}`;
  return (
    <div class="progress-wrap">
      <div
        class={`progress progress-${done ? m.state : 'running'}`}
        role="progressbar"
        aria-label={label}
        aria-valuemin="0"
        aria-valuemax="100"
        aria-valuenow={String(Math.round(f * 100))}
        aria-valuetext={`${stateLabel(m.state)}${m.bytes ? ', ' + bytes(m.bytes) + ' sent' : ''}`}
      >
        <div class="progress-bar" style={{ width: `${Math.round(f * 100)}%` }} />
      </div>
      <ol class="phases" aria-hidden="true">
        {PHASES.slice(1).map((p) => {
          const cur = PHASES.indexOf(m.state);
          const idx = PHASES.indexOf(p);
          const cls = done && m.state !== 'committed' ? '' : idx < cur || m.state === 'committed' ? 'done' : idx === cur ? 'current' : '';
          return <li class={cls}>{p}</li>;
        })}
      </ol>
    </div>
  );
}

export function Pager({ offset, limit, total, onPage, label = 'items' }) {
  const first = total === 0 ? 0 : offset + 1;
  const last = Math.min(offset + limit, total);
  return (
    <nav class="pager" aria-label={`Pages of ${label}`}>
      <button type="button" disabled={offset === 0} onClick={() => onPage(Math.max(0, offset - limit))}>
        ← Previous
      </button>
      <span aria-live="polite">
        {first.toLocaleString('en')}–{last.toLocaleString('en')} of {total.toLocaleString('en')} {label}
      </span>
      <button type="button" disabled={last >= total} onClick={() => onPage(offset + limit)}>
        Next →
      </button>
    </nav>
  );
}

// A time series chart (uPlot): points = [{x: seconds since epoch, y}], drawn at
// the width of its box.
export function Chart({ title, points, yLabel, height = 180 }) {
  const box = useRef(null);
  const plot = useRef(null);
  useEffect(() => {
    if (!box.current) return undefined;
    const data = [points.map((p) => p.x), points.map((p) => p.y)];
    const width = Math.max(200, box.current.clientWidth || 600);
    if (plot.current) plot.current.destroy();
    plot.current = new uPlot(
      {
        width,
        height,
        legend: { show: false },
        scales: { x: { time: true } },
        axes: [{}, { label: yLabel, size: 60 }],
        series: [{}, { label: yLabel, stroke: '#1f5f8b', width: 2, points: { show: true, size: 6 } }],
      },
      data,
      box.current,
    );
    const onResize = () => plot.current && plot.current.setSize({ width: Math.max(200, box.current.clientWidth), height });
    window.addEventListener('resize', onResize);
    return () => {
      window.removeEventListener('resize', onResize);
      if (plot.current) plot.current.destroy();
      plot.current = null;
    };
  }, [points, yLabel, height]);
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <div ref={box} role="img" aria-label={`${title}: ${points.length} points`} />
    </figure>
  );
}

// Toasts: short messages in an aria-live region (a failed migration, a sign-out).
const toastListeners = new Set();
let toastSeq = 0;
export function toast(text, kind = 'info') {
  const t = { id: ++toastSeq, text, kind };
  for (const fn of toastListeners) fn(t);
}

export function Toasts() {
  const [items, setItems] = useState([]);
  useEffect(() => {
    const add = (t) => {
      setItems((xs) => [...xs.slice(-4), t]);
      setTimeout(() => setItems((xs) => xs.filter((x) => x.id !== t.id)), t.kind === 'error' ? 15000 : 6000);
    };
    toastListeners.add(add);
    return () => toastListeners.delete(add);
  }, []);
  return (
    <div class="toasts" aria-live="polite" role="status">
      {items.map((t) => (
        <div key={t.id} class={`toast toast-${t.kind}`}>
          <span>{t.text}</span>
          <button type="button" class="link" aria-label="Dismiss" onClick={() => setItems((xs) => xs.filter((x) => x.id !== t.id))}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}

export function Stat({ label, value }) {
  return (
    <div class="stat">
      <div class="stat-value">{value}</div>
      <div class="stat-label">{label}</div>
    </div>
  );
}

export { bytes, ms };
