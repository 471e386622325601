// What the energy views share: an area's signal now (CO2 intensity and price,
// stale ones marked with the reason), energy totals, and the policy's decisions
// with their reason, compared values, estimated saving, inputs and alternatives.
import { useEffect, useState } from 'preact/hooks';
import { api } from './api.js';
import { Badge, ErrorNote, Loading } from './components.jsx';
import { bytes, co2g, energyWh, money, signalValue, watts, when } from './format.js';

const enc = encodeURIComponent;

export const PRICE_KIND = { EUR: 'price_eur', DKK: 'price_dkk' };

// One signal of one area: its value and unit, or why there is none; a stale
// one says so (a stale signal moves nothing).
function SignalPart({ label, s }) {
  if (!s) return null;
  return (
    <span class={`sig${s.fresh ? '' : ' sig-stale'}`}>
      {label} {s.value === null || s.value === undefined ? 'no value' : signalValue(s.value, s.unit)}
      {!s.fresh && (
        <>
          {' '}
          <span class="badge badge-stale">stale</span>
          {s.why && <span class="small why-stale"> {s.why}</span>}
        </>
      )}
    </span>
  );
}

// The signal of area now, from GET /api/v1/signals: CO2 and the price in the
// policy's currency.
export function SignalNow({ area, signals, currency = 'EUR' }) {
  if (!area) return <span class="muted">no area</span>;
  if (!signals) return <span class="muted">…</span>;
  const a = signals.areas && signals.areas[area];
  const price = a && a[PRICE_KIND[currency] || 'price_eur'];
  if (!a || (!a.co2 && !price)) return <span class="muted">no signal for {area}</span>;
  return (
    <span class="signal-now">
      <SignalPart label="CO₂" s={a.co2} />
      <SignalPart label="price" s={price} />
    </span>
  );
}

// Totals of GET /api/v1/energy for one host or workload.
export function EnergyTotals({ t, power, currency }) {
  return (
    <>
      <dt>Power now</dt>
      <dd>{power === undefined || power === null ? '–' : watts(power)}</dd>
      <dt>Energy used</dt>
      <dd>
        {t ? (
          <>
            {energyWh(t.energy_wh)} · {co2g(t.co2_g)} · {money(t.cost, currency)}
            <div class="small muted">
              since {when(t.since)}
              {t.energy_wh > 0 && (t.co2_wh < t.energy_wh - 1e-9 || t.cost_wh < t.energy_wh - 1e-9)
                ? ` (CO₂ known for ${energyWh(t.co2_wh)}, price for ${energyWh(t.cost_wh)})`
                : ''}
            </div>
          </>
        ) : (
          <span class="muted">nothing accounted yet</span>
        )}
      </dd>
    </>
  );
}

function num(v, digits = 2) {
  return v === null || v === undefined ? '–' : Number(v).toFixed(digits);
}

// "DK1: 200 g/kWh against DK2: 50 g/kWh, a gain of 150 g/kWh (40 g/kWh required)"
function Compared({ d }) {
  if (d.value_here === null || d.value_here === undefined) return null;
  const v = (x) => signalValue(x, d.unit);
  return (
    <span>
      {d.area || d.host}: {v(d.value_here)}
      {d.value_there !== null && d.value_there !== undefined && (
        <>
          {' '}
          against {d.target_area || d.target || 'elsewhere'}: {v(d.value_there)}
        </>
      )}
      {d.gain !== null && d.gain !== undefined && (
        <>
          , a gain of {v(d.gain)}
          {d.required !== null && d.required !== undefined ? ` (${v(d.required)} required)` : ''}
        </>
      )}
    </span>
  );
}

// A move's estimated saving per hour at the values of the moment; a move that
// costs more (a drain to a dirtier area) says "extra".
export function Saving({ s }) {
  if (!s) return null;
  const parts = [];
  const has = (x) => x !== null && x !== undefined;
  if (has(s.co2_g_per_h)) parts.push([s.co2_g_per_h, `${co2g(Math.abs(s.co2_g_per_h))}/h`]);
  if (has(s.cost_per_h)) parts.push([s.cost_per_h, `${money(Math.abs(s.cost_per_h), s.currency)}/h`]);
  if (!parts.length) return null;
  const saving = parts.filter(([x]) => x >= 0).map(([, t]) => t);
  const extra = parts.filter(([x]) => x < 0).map(([, t]) => t);
  return (
    <>
      {saving.length > 0 && <span class="saving">estimated saving {saving.join(', ')}</span>}
      {saving.length > 0 && extra.length > 0 && '; '}
      {extra.length > 0 && <span class="extra">estimated extra {extra.join(', ')}</span>}
    </>
  );
}

// The inputs and alternatives of a whole decision (a plan's, or a stored one's
// detail).
export function DecisionInputs({ d }) {
  const inp = d.inputs || {};
  const areas = Object.entries(inp.areas || {});
  const w = inp.workload || {};
  const l = inp.limits || {};
  const alts = d.alternatives || [];
  return (
    <div class="decision-detail">
      <h4>Alternatives</h4>
      {alts.length === 0 ? (
        <p class="small muted">No other host was considered.</p>
      ) : (
        <div class="table-wrap">
          <table class="list small">
            <thead>
              <tr>
                <th scope="col">Host</th>
                <th scope="col">Area</th>
                <th scope="col">Eligible</th>
                <th scope="col">Value</th>
                <th scope="col">Gain</th>
                <th scope="col">Note</th>
              </tr>
            </thead>
            <tbody>
              {alts.map((a) => (
                <tr>
                  <td>{a.host}</td>
                  <td>{a.area || '–'}</td>
                  <td>{a.eligible ? 'yes' : 'no'}</td>
                  <td>{num(a.value)}</td>
                  <td>{num(a.gain)}</td>
                  <td>{a.note}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <h4>Inputs</h4>
      <dl class="props">
        <dt>Policy time</dt>
        <dd>{inp.time || '–'}</dd>
        <dt>Signals</dt>
        <dd>
          {areas.length === 0 && <span class="muted">none</span>}
          <ul class="reasons">
            {areas.map(([area, sigs]) => (
              <li>
                <strong>{area}</strong>:{' '}
                {Object.entries(sigs).map(([k, s], i) => (
                  <span>
                    {i > 0 ? '; ' : ''}
                    {k} {num(s.now)}
                    {s.ahead !== null && s.ahead !== undefined ? ` (ahead ${num(s.ahead)})` : ''}
                    {s.band_mean !== null && s.band_mean !== undefined ? ` (band mean ${num(s.band_mean)})` : ''}
                    {s.fresh ? '' : ` – stale: ${s.why || 'no value'}`}
                  </span>
                ))}
              </li>
            ))}
          </ul>
        </dd>
        <dt>Workload</dt>
        <dd>
          auto-migrate {w.auto_migrate ? 'on' : 'off'}, {w.running ? 'running' : 'not running'}, {num(w.cpu_cores)} CPU
          core(s), {w.rss_bytes !== null && w.rss_bytes !== undefined ? bytes(w.rss_bytes) : '–'} memory; last moved{' '}
          {w.last_move || 'never'}
          {w.hold_until ? `; held until ${w.hold_until}` : ''}
        </dd>
        <dt>Limits</dt>
        <dd>
          {l.running} of {l.max_concurrent} migration(s) running; {l.last_hour} of {l.max_per_hour} policy migration(s) in
          the last hour
        </dd>
        {d.power_w !== null && d.power_w !== undefined && (
          <>
            <dt>Its power</dt>
            <dd>{watts(d.power_w)}</dd>
          </>
        )}
        {inp.settings && (
          <>
            <dt>Settings</dt>
            <dd class="small mono">
              {Object.entries(inp.settings)
                .map(([k, v]) => `${k}=${v}`)
                .join(' ')}
            </dd>
          </>
        )}
      </dl>
    </div>
  );
}

// Loads a stored decision's detail when its <details> opens.
function StoredDetail({ id }) {
  const [d, setD] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    api('GET', `/api/v1/decisions/${enc(id)}`)
      .then((x) => setD(x.detail || {}))
      .catch(setError);
  }, [id]);
  if (error) return <ErrorNote error={error} />;
  if (!d) return <Loading what="the inputs" />;
  return <DecisionInputs d={d} />;
}

// One decision: stored (short form, with id, time and migration) or of a plan
// (whole, with inputs and alternatives).
export function DecisionCard({ d, showWorkload = true, open = false }) {
  const [opened, setOpened] = useState(open);
  const stored = Boolean(d.id);
  return (
    <article class={`decision decision-${d.action}`} aria-label={`Decision for ${d.workload}: ${d.action}`}>
      <header class="decision-head">
        <Badge state={d.action} />
        {showWorkload && (
          <a class="decision-workload" href={`#/workloads/${enc(d.workload)}`}>
            {d.workload}
          </a>
        )}
        <span>
          {d.host || '–'}
          {d.target ? ` → ${d.target}` : ''}
        </span>
        <span class="small muted">
          {d.code}
          {d.policy ? ` · ${d.policy}` : ''}
        </span>
        {stored && (
          <a class="small decision-time" href={`#/decisions/${d.id}`} title={`policy time ${d.policy_time}`}>
            {when(d.time)}
          </a>
        )}
      </header>
      <p class="reason">{d.reason}</p>
      <p class="small decision-figures">
        <Compared d={d} /> <Saving s={d.saving} />
        {d.migration && (
          <>
            {' '}
            <a class="decision-migration" href={`#/migrations/${d.migration}`}>
              the migration it started
            </a>
          </>
        )}
      </p>
      <details open={open} onToggle={(e) => setOpened(e.currentTarget.open)}>
        <summary>Inputs and alternatives</summary>
        {opened && (stored && !d.inputs ? <StoredDetail id={d.id} /> : <DecisionInputs d={d} />)}
      </details>
    </article>
  );
}
