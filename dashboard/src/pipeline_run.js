// Watching a pipeline run (#/pipelines/run/ID): its events from GET
// /v1/runs/{id}/events, read with fetch and a streaming reader (the key goes
// in the Authorization header, which EventSource cannot send), colour its
// steps in the pipeline's graph: waiting, running (step.started), then done,
// failed or skipped (step.done). A client that comes late gets every event
// so far first, so a run the server still holds is drawn whole.

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, readEvents } from './api.js';
import { Dag, stepWhat } from './dag.js';
import { MAX_STEPS } from './dag_layout.js';
import { duration, usd } from './format.js';
import { ErrorNote, StatusBadge } from './parts.js';

/// A step's state from its step.done status.
function doneState(status) {
  if (status === 'ok' || status === 'partial') return 'done';
  if (status === 'failed') return 'failed';
  return 'skipped';
}

/// The run as its events tell it: {name, kind, status, steps: Map(id ->
/// {state, status, reason, totalMs}), result}.
function initial() {
  return { name: null, kind: null, status: 'connecting', steps: new Map(), result: null, ended: false };
}

function apply(run, type, data) {
  if (type === 'run.started') {
    return { ...run, name: data.name ?? null, kind: data.kind ?? null, status: data.status ?? 'running' };
  }
  if (type === 'step.started' && typeof data.step === 'string') {
    const steps = new Map(run.steps);
    steps.set(data.step, { ...(steps.get(data.step) ?? {}), state: 'running' });
    return { ...run, steps };
  }
  if (type === 'step.done' && typeof data.id === 'string') {
    const steps = new Map(run.steps);
    steps.set(data.id, {
      state: doneState(data.status), status: data.status, reason: data.reason ?? null, totalMs: data.total_ms,
    });
    return { ...run, steps };
  }
  if (type === 'run.done') return { ...run, status: data.status ?? run.status, result: data.result ?? null, ended: true };
  return run; // member.delta, member.done: the run view shows members
}

export function PipelineRun({ id, pipelines }) {
  const [run, setRun] = useState(initial);
  const [error, setError] = useState(null);

  useEffect(() => {
    const stop = new AbortController();
    setRun(initial());
    setError(null);
    readEvents(`/v1/runs/${encodeURIComponent(id)}/events`,
      (type, data) => {
        let parsed;
        try {
          parsed = JSON.parse(data);
        } catch {
          return;
        }
        setRun((before) => apply(before, type, parsed));
      }, { signal: stop.signal })
      .then(() => setRun((before) => ({ ...before, ended: true })))
      .catch((e) => !stop.signal.aborted && setError(e));
    return () => stop.abort();
  }, [id]);

  const back = html`<p><a href="#/pipelines">← Pipelines</a></p>`;
  const runLink = html`<a href=${`#/runs/${encodeURIComponent(id)}`}>the run's answer and calls</a>`;
  if (error instanceof ApiError && error.code === 'run_not_found') {
    return html`<section>${back}<p class="note">This server no longer holds run <code>${id}</code> in memory, so
      its events are gone; see ${runLink} if it was stored.</p></section>`;
  }
  if (error) return html`<section>${back}<${ErrorNote} error=${error} /></section>`;
  if (run.kind && run.kind !== 'pipeline') {
    return html`<section>${back}<p class="note">Run <code>${id}</code> is not a pipeline's: see ${runLink}.</p></section>`;
  }
  const pipeline = run.name && pipelines?.find((p) => p.name === run.name);
  const steps = (pipeline?.steps ?? []).slice(0, MAX_STEPS);
  const states = new Map(steps.map((step) => [step.id, run.steps.get(step.id)?.state ?? 'waiting']));
  return html`<section aria-labelledby="watch-title">
    ${back}
    <div class="view-head">
      <h1 id="watch-title">${run.name ?? 'A run'} <span class="muted">pipeline run</span></h1>
      <${StatusBadge} status=${run.status} />
    </div>
    <p class="muted small"><code>${id}</code> · ${runLink}</p>
    ${!run.name && html`<p class="muted" role="status">Connecting…</p>`}
    ${run.name && !pipeline && pipelines && html`<p class="note">This server's config has no pipeline
      ${run.name} any more (reloaded?), so its graph cannot be drawn.</p>`}
    ${pipeline && html`<${Dag} id="run-dag" pipeline=${pipeline} states=${states} />
      <ul class="dag-key" aria-label="Colours">
        ${['waiting', 'running', 'done', 'failed', 'skipped'].map((s) => html`<li class=${`state-${s}`}><span class="swatch"></span>${s}</li>`)}
      </ul>
      <table class="numbers steps">
        <caption class="visually-hidden">The run's steps</caption>
        <thead><tr><th scope="col">Step</th><th scope="col">Asks</th><th scope="col">State</th>
          <th scope="col" class="num">Time</th><th scope="col">Why</th></tr></thead>
        <tbody>${steps.map((step) => {
          const s = run.steps.get(step.id);
          return html`<tr data-step=${step.id}>
            <th scope="row">${step.id}</th>
            <td>${stepWhat(step)}</td>
            <td>${states.get(step.id)}${s?.status && s.status !== 'ok' && ` (${s.status})`}</td>
            <td class="num">${s?.totalMs !== undefined ? duration(s.totalMs) : ''}</td>
            <td>${s?.reason ?? ''}</td>
          </tr>`;
        })}</tbody>
      </table>`}
    ${run.result && html`<h2>Output</h2>
      ${run.result.output ? html`<pre class="text answer">${run.result.output}</pre>` : html`<p class="muted">No output.</p>`}
      <p class="muted small">Cost ${usd(run.result.cost_usd)} · ${duration(run.result.total_ms)}</p>`}
    ${run.ended && !run.result && html`<p class="note">The event stream ended before the run did.</p>`}
  </section>`;
}
