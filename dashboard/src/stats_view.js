// Stats: charts of GET /v1/stats over the last 7 or 30 days: spend per day
// by provider and by API key, the failure rate per day by kind, each
// provider's latency, and (when the server counts it) how often each member
// agreed with the ensemble's answer. Drawn by charts.js; every chart has its
// numbers in a table too.

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson } from './api.js';
import { HorizontalBars, StackedBars } from './charts.js';
import { duration, usd } from './format.js';
import { ErrorNote } from './parts.js';

const DAY = 86_400_000;
const RANGES = [7, 30];
const NO_KEY = '(no key)';

/// A bucket's UTC day as "MM-DD" (the store's days are UTC days).
function dayLabel(ms) {
  return new Date(ms).toISOString().slice(5, 10);
}

function percent(v) {
  return `${(v * 100).toFixed(v > 0 && v < 0.1 ? 1 : 0)}%`;
}

/// The days from `sinceMs` to today, oldest first, as chart columns.
function days(sinceMs, nowMs) {
  const out = [];
  for (let d = Math.floor(sinceMs / DAY) * DAY; d <= nowMs && out.length < 400; d += DAY) {
    out.push({ key: d, label: dayLabel(d) });
  }
  return out;
}

/// The names in `rows`' `field`, in order of first appearance.
function namesOf(rows, field) {
  return [...new Set(rows.map((r) => r[field]))];
}

/// `rows` summed by group and day: {total(day, group), ...}.
function sumBy(rows, field) {
  const table = new Map();
  for (const r of rows) {
    const k = `${r.bucket_ms}\u0000${r.group}`;
    table.set(k, (table.get(k) ?? 0) + (Number(r[field]) || 0));
  }
  return (day, group) => table.get(`${day}\u0000${group}`) ?? 0;
}

/// The failure kinds of `rows`, and for each day and kind the share of that
/// day's calls that failed so.
function failureRates(rows) {
  const calls = new Map();
  const failed = new Map();
  const kinds = new Set();
  for (const r of rows) {
    calls.set(r.bucket_ms, (calls.get(r.bucket_ms) ?? 0) + (r.calls ?? 0));
    for (const [kind, n] of Object.entries(r.failures_by_kind ?? {})) {
      kinds.add(kind);
      const k = `${r.bucket_ms}\u0000${kind}`;
      failed.set(k, (failed.get(k) ?? 0) + n);
    }
  }
  const rate = (day, kind) => (calls.get(day) ? (failed.get(`${day}\u0000${kind}`) ?? 0) / calls.get(day) : 0);
  return { kinds: [...kinds].sort(), rate };
}

/// Each provider's p50 and p95 over the range: the daily values, weighted
/// by their calls (exact when the range holds one day of calls).
function latencies(rows) {
  const per = new Map();
  for (const r of rows) {
    if (!r.calls || typeof r.p50_ms !== 'number') continue;
    const p = per.get(r.group) ?? { calls: 0, p50: 0, p95: 0 };
    p.calls += r.calls;
    p.p50 += r.p50_ms * r.calls;
    p.p95 += (r.p95_ms ?? r.p50_ms) * r.calls;
    per.set(r.group, p);
  }
  return new Map([...per].map(([g, p]) => [g, [p.p50 / p.calls, p.p95 / p.calls]]));
}

// ---- The fourth chart: how often each member agreed with the ensemble's
// answer. It reads `agreed` and `voted` from the rows of
// /v1/stats?by=provider, which the server is being taught to count; rows
// without `voted` (a server without them) hide the chart.

/// Each provider's agreed / voted over the range, or null when the server
/// does not count them.
function agreement(rows) {
  if (!rows.some((r) => typeof r.voted === 'number')) return null;
  const per = new Map();
  for (const r of rows) {
    const p = per.get(r.group) ?? { agreed: 0, voted: 0 };
    p.agreed += Number(r.agreed) || 0;
    p.voted += Number(r.voted) || 0;
    per.set(r.group, p);
  }
  return per;
}

function AgreementChart({ rows, range }) {
  const agreed = agreement(rows);
  if (!agreed) return null;
  const groups = [...agreed.keys()].filter((g) => agreed.get(g).voted > 0);
  return html`<${HorizontalBars} id="chart-agreement" title="How often each member agreed with the ensemble's answer"
    groupLabel="Provider" groups=${groups} bars=${[{ label: 'agreed' }]} max=${1} format=${percent}
    value=${(g) => agreed.get(g).agreed / agreed.get(g).voted}
    empty=${`No votes in the last ${range} days.`} note="agreed / voted, in ensembles that took a vote" />`;
}

// ---- end of the fourth chart

export function Stats() {
  const [range, setRange] = useState(7);
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    let live = true;
    const nowMs = Date.now();
    const since = nowMs - range * DAY;
    setError(null);
    Promise.all([
      getJson('/v1/stats', { by: 'provider', per: 'day', since }),
      getJson('/v1/stats', { by: 'key', per: 'day', since }),
    ])
      .then(([byProvider, byKey]) => live && setData({
        range, nowMs, since: byProvider.since_ms ?? since, providers: byProvider.data ?? [], keys: byKey.data ?? [],
      }))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [range, reloads]);

  const storeOff = error instanceof ApiError && error.code === 'store_disabled';
  const head = html`<div class="view-head">
    <h1 id="stats-title">Stats</h1>
    <div class="view-actions">
      <div class="range" role="group" aria-labelledby="range-label">
        <span id="range-label" class="muted small">Range</span>
        ${RANGES.map((n) => html`<button type="button" class="toggle" aria-pressed=${range === n ? 'true' : 'false'}
          onClick=${() => setRange(n)}>${n} days</button>`)}
      </div>
      <button type="button" onClick=${() => setReloads((n) => n + 1)}>Refresh</button>
    </div>
  </div>`;
  if (storeOff) {
    return html`<section aria-labelledby="stats-title">${head}
      <p class="note">This server keeps no history (<code>store: none</code>), so it has no stats: start it
        with <code>--store runs.db</code> or a <code>store:</code> section.</p>
    </section>`;
  }
  if (error) return html`<section aria-labelledby="stats-title">${head}<${ErrorNote} error=${error} /></section>`;
  if (!data) return html`<section aria-labelledby="stats-title">${head}<p class="muted" role="status">Loading…</p></section>`;

  const columns = days(data.since, data.nowMs);
  const rows = data.providers;
  const providers = namesOf(rows, 'group');
  const keyRows = data.keys.map((r) => ({ ...r, group: r.group || NO_KEY }));
  const keys = namesOf(keyRows, 'group');
  const spend = sumBy(rows, 'cost_usd');
  const keySpend = sumBy(keyRows, 'cost_usd');
  const total = rows.reduce((sum, r) => sum + (Number(r.cost_usd) || 0), 0);
  const calls = rows.reduce((sum, r) => sum + (r.calls ?? 0), 0);
  const failures = failureRates(rows);
  const latency = latencies(rows);
  const shown = data.range; // the data's range, while another one loads
  const none = `No calls in the last ${shown} days.`;
  return html`<section aria-labelledby="stats-title">
    ${head}
    <p class="stats-total">In the last ${shown} days: <strong class="cost">${usd(total)}</strong> spent on
      ${' '}${calls} calls to ${providers.length} providers.</p>
    <div class="charts">
      <${StackedBars} id="chart-spend-provider" title="Spend per day by provider" columns=${columns}
        series=${providers} value=${(c, name) => spend(c.key, name)} format=${usd}
        empty=${none} note="UTC days; priced providers only" />
      <${StackedBars} id="chart-spend-key" title="Spend per day by API key" columns=${columns}
        series=${keys} value=${(c, name) => keySpend(c.key, name)} format=${usd}
        empty=${none} note="(no key): the server's token, or loopback without one" />
      <${StackedBars} id="chart-failures" title="Failure rate per day by kind" columns=${columns}
        series=${failures.kinds} value=${(c, kind) => failures.rate(c.key, kind)} format=${percent}
        empty=${calls ? `No failures in the last ${shown} days.` : none} note="failed calls / all calls of the day" />
      <${HorizontalBars} id="chart-latency" title="Latency per provider" groupLabel="Provider"
        groups=${[...latency.keys()]} bars=${[{ label: 'p50' }, { label: 'p95' }]}
        value=${(g, b) => latency.get(g)?.[b]} format=${duration} empty=${none}
        note="over several days: the daily values weighted by calls" />
      <${AgreementChart} rows=${rows} range=${shown} />
    </div>
  </section>`;
}
