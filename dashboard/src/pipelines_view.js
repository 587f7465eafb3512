// Pipelines: the configured pipelines (GET /v1/pipelines), the selected
// one's steps drawn as a graph, and its recent stored runs (GET
// /v1/runs?target=NAME&target_kind=pipeline). The address
// says what is shown: #/pipelines, #/pipelines/NAME, or
// #/pipelines/run/ID to watch a run (pipeline_run.js).

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson } from './api.js';
import { Dag, stepWhat } from './dag.js';
import { MAX_STEPS } from './dag_layout.js';
import { duration, usd, when } from './format.js';
import { ErrorNote, StatusBadge } from './parts.js';
import { PipelineRun } from './pipeline_run.js';

const RECENT = 20;

/// What `rest`, the address after #/pipelines, names: {run: ID}, {name}, or {}.
function place(rest) {
  const parts = (rest ?? '').split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  if (parts.length === 2 && parts[0] === 'run') return { run: parts[1] };
  if (parts.length === 1) return { name: parts[0] };
  return {};
}

export function pipelineHref(name) {
  return `#/pipelines/${encodeURIComponent(name)}`;
}

export function runHref(id) {
  return `#/pipelines/run/${encodeURIComponent(id)}`;
}

function RecentRuns({ name }) {
  const [runs, setRuns] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    let live = true;
    setRuns(null);
    setError(null);
    getJson('/v1/runs', { target: name, target_kind: 'pipeline', limit: RECENT })
      .then((page) => live && setRuns(page.data ?? []))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [name]);
  const storeOff = error instanceof ApiError && error.code === 'store_disabled';
  return html`<section aria-labelledby="recent-title">
    <h2 id="recent-title">Recent runs</h2>
    ${storeOff
      ? html`<p class="muted">This server keeps no history (<code>store: none</code>).</p>`
      : error
        ? html`<${ErrorNote} error=${error} />`
        : runs === null
          ? html`<p class="muted" role="status">Loading…</p>`
          : runs.length === 0
            ? html`<p class="muted">No stored runs of ${name} yet.</p>`
            : html`<table class="runs pipeline-runs">
                <thead><tr>
                  <th scope="col">Started</th><th scope="col">Status</th><th scope="col" class="num">Wall time</th>
                  <th scope="col" class="num">Cost</th><th scope="col">Steps</th>
                </tr></thead>
                <tbody>${runs.map((r) => html`<tr>
                  <td><a href=${`#/runs/${encodeURIComponent(r.id)}`}>${when(r.started_ms)}</a></td>
                  <td><${StatusBadge} status=${r.status} /></td>
                  <td class="num">${duration(typeof r.wall_us === 'number' ? r.wall_us / 1000 : null)}</td>
                  <td class="num">${usd(r.cost_usd)}</td>
                  <td><a href=${runHref(r.id)} aria-label=${`steps of the run at ${when(r.started_ms)}`}>steps</a></td>
                </tr>`)}</tbody>
              </table>`}
  </section>`;
}

function Pipeline({ pipeline }) {
  const steps = (pipeline.steps ?? []).slice(0, MAX_STEPS);
  return html`<section aria-labelledby="pipeline-title">
    <h2 id="pipeline-title">${pipeline.name}</h2>
    <dl class="figures">
      <div><dt>Inputs</dt><dd>${(pipeline.inputs ?? []).join(', ') || 'none'}</dd></div>
      <div><dt>Output</dt><dd>${pipeline.output}</dd></div>
      <div><dt>Steps</dt><dd>${(pipeline.steps ?? []).length}</dd></div>
    </dl>
    <${Dag} id="pipeline-dag" pipeline=${pipeline} />
    <details>
      <summary>The steps</summary>
      <table class="numbers">
        <thead><tr><th scope="col">Step</th><th scope="col">Asks</th><th scope="col">Needs</th></tr></thead>
        <tbody>${steps.map((s) => html`<tr>
          <th scope="row">${s.id}</th><td>${stepWhat(s)}</td><td>${(s.needs ?? []).join(', ') || '–'}</td>
        </tr>`)}</tbody>
      </table>
    </details>
    <p class="muted small">
      Start a run with <code>POST /v1/runs {"pipeline": "${pipeline.name}", "inputs": {…}}</code>${' '}
      and open <code>#/pipelines/run/ID</code> to watch its steps.
    </p>
    <${RecentRuns} name=${pipeline.name} />
  </section>`;
}

export function Pipelines({ rest }) {
  const where = place(rest);
  const [pipelines, setPipelines] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    let live = true;
    getJson('/v1/pipelines')
      .then((body) => live && setPipelines(body.data ?? []))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, []);

  if (where.run) return html`<${PipelineRun} id=${where.run} pipelines=${pipelines} />`;
  const selected = pipelines && (pipelines.find((p) => p.name === where.name) ?? (where.name ? null : pipelines[0]));
  return html`<section aria-labelledby="pipelines-title">
    <div class="view-head"><h1 id="pipelines-title">Pipelines</h1></div>
    ${error && html`<${ErrorNote} error=${error} />`}
    ${pipelines === null && !error && html`<p class="muted" role="status">Loading…</p>`}
    ${pipelines?.length === 0 && html`<p class="muted">This server has no pipelines: add a
      <code>pipelines:</code> section to its config (docs/pipelines.md).</p>`}
    ${pipelines?.length > 0 && html`<nav aria-label="Pipelines" class="pipeline-list">
      ${pipelines.map((p) => html`<a href=${pipelineHref(p.name)}
        aria-current=${selected?.name === p.name ? 'page' : undefined}>${p.name}</a>`)}
    </nav>`}
    ${pipelines && where.name && !selected && html`<p class="note error" role="alert">No pipeline is named ${where.name}.</p>`}
    ${selected && html`<${Pipeline} key=${selected.name} pipeline=${selected} />`}
  </section>`;
}
