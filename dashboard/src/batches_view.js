// Batches (#/batches, #/batches/ID): a pipeline over many rows, started here
// or by POST /v1/batches, watched while it runs: its progress, rate and ETA,
// failures by kind, and the rows that failed (docs/http.md#batches).

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson, sendJson } from './api.js';
import { HorizontalBars } from './charts.js';
import { duration, usd, when } from './format.js';
import { ErrorNote, StatusBadge } from './parts.js';

/// Most rows the form sends (the server takes up to 100,000; more is a job
/// for `tutti batch`).
const maxFormRows = 10_000;

/// The rows of the form's text: one JSON object per line, blank lines
/// skipped. Throws an Error naming the first line that is not an object.
export function rowsOf(text) {
  const rows = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; ++i) {
    const line = lines[i].trim();
    if (!line) continue;
    let row;
    try {
      row = JSON.parse(line);
    } catch {
      throw new Error(`line ${i + 1}: not JSON`);
    }
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      throw new Error(`line ${i + 1}: not a JSON object`);
    }
    rows.push(row);
    if (rows.length > maxFormRows) throw new Error(`more than ${maxFormRows} rows: use tutti batch`);
  }
  if (rows.length === 0) throw new Error('no rows');
  return rows;
}

function Progress({ b }) {
  const part = b.rows > 0 ? b.done / b.rows : 0;
  return html`<span class="progress">
    <progress max=${b.rows} value=${b.done} aria-label=${`${b.done} of ${b.rows} rows`}></progress>
    <span class="num small">${b.done}/${b.rows} (${Math.round(part * 100)}%)</span>
  </span>`;
}

function StartForm({ onStarted }) {
  const [pipelines, setPipelines] = useState([]);
  const [form, setForm] = useState({ pipeline: '', rows: '', concurrency: 16 });
  const [error, setError] = useState(null);
  useEffect(() => {
    getJson('/v1/pipelines').then((p) => {
      setPipelines(p.data);
      setForm((f) => ({ ...f, pipeline: f.pipeline || p.data[0]?.name || '' }));
    }).catch(setError);
  }, []);
  const inputs = pipelines.find((p) => p.name === form.pipeline)?.inputs ?? [];
  const start = async (event) => {
    event.preventDefault();
    setError(null);
    try {
      const rows = rowsOf(form.rows);
      const batch = await sendJson('POST', '/v1/batches', {
        pipeline: form.pipeline, rows, concurrency: Number(form.concurrency),
      });
      onStarted(batch.id);
    } catch (e) {
      setError(e);
    }
  };
  if (pipelines.length === 0 && !error) return null;
  return html`<form class="playground" onSubmit=${start} aria-labelledby="start-title">
    <h2 id="start-title" class="wide">Start a batch</h2>
    <label>Pipeline
      <select name="pipeline" value=${form.pipeline} onChange=${(e) => setForm({ ...form, pipeline: e.currentTarget.value })}>
        ${pipelines.map((p) => html`<option>${p.name}</option>`)}
      </select>
    </label>
    <label>Rows at once
      <input name="concurrency" type="number" min="1" max="256" value=${form.concurrency}
        onInput=${(e) => setForm({ ...form, concurrency: e.currentTarget.value })} />
    </label>
    <label class="wide">Rows, one JSON object per line (inputs: ${inputs.join(', ') || '–'})
      <textarea name="rows" rows="4" required value=${form.rows} spellcheck="false"
        placeholder=${`{"id": 1, ${inputs.map((i) => `"${i}": "..."`).join(', ')}}`}
        onInput=${(e) => setForm({ ...form, rows: e.currentTarget.value })}></textarea>
    </label>
    <div class="actions"><button type="submit">Start</button></div>
    ${error && html`<div class="wide"><${ErrorNote} error=${error} /></div>`}
  </form>`;
}

function BatchList() {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    let timer = null;
    getJson('/v1/batches')
      .then((l) => {
        if (!live) return;
        setList(l.data);
        // Asked again while one runs.
        if (l.data.some((b) => b.status === 'running')) timer = setTimeout(() => setTick((n) => n + 1), 2000);
      })
      .catch((e) => live && setError(e));
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [tick]);
  const open = (id) => {
    location.hash = `#/batches/${encodeURIComponent(id)}`;
  };
  return html`<section aria-labelledby="batches-title">
    <h1 id="batches-title">Batches</h1>
    ${error && html`<${ErrorNote} error=${error} />`}
    <${StartForm} onStarted=${open} />
    <h2>This server's batches</h2>
    ${list && list.length === 0 && html`<p class="muted">None yet. Start one above, with <code>POST /v1/batches</code>, or
      from the command line with <code>tutti batch</code> (its rows then show in History).</p>`}
    ${list && list.length > 0 && html`<table class="batches">
      <thead><tr><th scope="col">Started</th><th scope="col">Pipeline</th><th scope="col">Status</th>
        <th scope="col">Progress</th><th scope="col" class="num">Failed</th><th scope="col" class="num">Cost</th></tr></thead>
      <tbody>${list.map((b) => html`<tr>
        <td><a href=${`#/batches/${encodeURIComponent(b.id)}`}>${when(b.created * 1000)}</a></td>
        <td>${b.pipeline}</td><td><${StatusBadge} status=${b.status} /></td>
        <td><${Progress} b=${b} /></td>
        <td class="num">${b.failed + b.invalid}</td><td class="num">${usd(b.cost_usd)}</td>
      </tr>`)}</tbody>
    </table>`}
  </section>`;
}

function BatchView({ id }) {
  const [b, setB] = useState(null);
  const [error, setError] = useState(null);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    let timer = null;
    getJson(`/v1/batches/${encodeURIComponent(id)}`)
      .then((body) => {
        if (!live) return;
        setB(body);
        if (body.status === 'running') timer = setTimeout(() => setTick((n) => n + 1), 1000);
      })
      .catch((e) => live && setError(e));
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [id, tick]);
  const back = html`<p><a href="#/batches">← Batches</a></p>`;
  if (error instanceof ApiError && error.code === 'batch_not_found') {
    return html`<section>${back}<p class="note">This server no longer has batch <code>${id}</code>.</p></section>`;
  }
  if (error) return html`<section>${back}<${ErrorNote} error=${error} /></section>`;
  if (!b) return html`<section>${back}<p class="muted" role="status">Loading…</p></section>`;
  const cancel = async () => {
    try {
      setB(await sendJson('DELETE', `/v1/batches/${encodeURIComponent(id)}`));
    } catch (e) {
      setError(e);
    }
  };
  const kinds = Object.keys(b.failures_by_kind ?? {});
  return html`<section aria-labelledby="batch-title">
    ${back}
    <div class="view-head">
      <h1 id="batch-title">${b.pipeline} <span class="muted">batch</span></h1>
      <${StatusBadge} status=${b.status} />
    </div>
    <p><${Progress} b=${b} /></p>
    <dl class="figures summary">
      <div><dt>OK</dt><dd>${b.ok}</dd></div>
      <div><dt>Partial</dt><dd>${b.partial}</dd></div>
      <div><dt>Failed</dt><dd class="failed-count">${b.failed + b.invalid}</dd></div>
      <div><dt>In flight</dt><dd>${b.in_flight}</dd></div>
      <div><dt>Rate</dt><dd>${b.rows_per_s.toFixed(1)} rows/s</dd></div>
      <div><dt>ETA</dt><dd>${b.eta_ms === null ? '–' : duration(b.eta_ms)}</dd></div>
      <div><dt>Elapsed</dt><dd>${duration(b.elapsed_ms)}</dd></div>
      <div><dt>Cost</dt><dd class="cost">${usd(b.cost_usd)}</dd></div>
      <div><dt>Batch</dt><dd><code>${b.id}</code></dd></div>
    </dl>
    ${b.error && html`<p class="note error" role="alert">${b.error}</p>`}
    ${b.status === 'running' && html`<p><button type="button" class="secondary" onClick=${cancel}>Cancel the batch</button></p>`}
    <${HorizontalBars} id="chart-batch-failures" title="Failures by kind" groupLabel="Kind"
      groups=${kinds} bars=${[{ label: 'rows' }]} value=${(k) => b.failures_by_kind[k]} format=${(v) => (Number.isInteger(v) ? String(v) : v.toFixed(1))}
      empty="No row has failed." />
    <h2>Rows that failed</h2>
    ${(b.failed_rows ?? []).length === 0 ? html`<p class="muted">None.</p>` : html`<table class="failed-rows">
      <thead><tr><th scope="col" class="num">Line</th><th scope="col">Id</th><th scope="col">Kind</th><th scope="col">Message</th></tr></thead>
      <tbody>${b.failed_rows.map((r) => html`<tr>
        <td class="num">${r.line}</td><td><code>${JSON.stringify(r.id)}</code></td>
        <td><span class="badge status-failed">${r.kind || r.status}</span></td><td>${r.message}</td>
      </tr>`)}</tbody>
    </table>`}
    ${b.failed_rows_total > (b.failed_rows ?? []).length && html`<p class="muted small">The first
      ${b.failed_rows.length} of ${b.failed_rows_total}; every row is in <code>GET /v1/batches/${b.id}/results</code>.</p>`}
  </section>`;
}

/// #/batches and #/batches/ID.
export function Batches({ id }) {
  return id ? html`<${BatchView} id=${id} />` : html`<${BatchList} />`;
}
