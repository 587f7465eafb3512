// One run from GET /v1/runs/{id}: the answer, its note and votes, and the
// members side by side, failures with their kind and the vendor's message.

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { agreement, MarkedText } from './agree.js';
import { getJson } from './api.js';
import { duration, tokens, usd, when } from './format.js';
import { ErrorNote, StatusBadge } from './parts.js';
import { runModel } from './run_model.js';

function Member({ m, segments }) {
  return html`<article class=${`member ${m.status === 'ok' ? '' : 'failed'}`} aria-label=${`member ${m.label}`}>
    <header>
      <h3>${m.label}${m.role !== 'member' && html`<span class="muted"> (${m.role})</span>`}</h3>
      <${StatusBadge} status=${m.status} />
    </header>
    <p class="muted">${m.provider}${m.model && ` · ${m.model}`}${m.cached ? ' · cached' : ''}</p>
    ${m.status !== 'ok' && html`<p class="failure">
      <strong>${m.failureKind || 'failed'}</strong>${m.httpStatus ? ` (HTTP ${m.httpStatus})` : ''}: ${m.message}
    </p>`}
    <dl class="figures">
      <div><dt>Latency</dt><dd>${duration(m.latencyMs)}</dd></div>
      <div><dt>Tokens</dt><dd>${tokens(m.usage)}</dd></div>
      <div><dt>Cost</dt><dd>${usd(m.costUsd)}</dd></div>
    </dl>
    ${segments ? html`<${MarkedText} segments=${segments} />` : m.text && html`<pre class="text">${m.text}</pre>`}
  </article>`;
}

export function Votes({ votes }) {
  if (!votes || votes.length === 0) return null;
  return html`<section aria-labelledby="votes-title">
    <h2 id="votes-title">Votes</h2>
    <table class="votes">
      <thead><tr><th scope="col">Answer</th><th scope="col" class="num">Weight</th><th scope="col">Voters</th></tr></thead>
      <tbody>${votes.map((v) => html`<tr>
        <td>${v.text ?? v.answer}</td><td class="num">${v.weight}</td><td>${(v.members ?? []).join(', ')}</td>
      </tr>`)}</tbody>
    </table>
  </section>`;
}

/// The ranking (rank, council), with mean ranks and each reviewer's order.
function Verdict({ v }) {
  if (!v) return null;
  const parts = [];
  if (v.agreement !== null) parts.push(html`<p>Agreement: <strong>${Math.round(v.agreement * 100)}%</strong>${v.winner && html` · winner <strong>${v.winner}</strong>`}</p>`);
  if (v.rounds) parts.push(html`<p>Debate rounds: ${v.rounds}</p>`);
  if (v.ranking.length > 0) {
    parts.push(html`<h3>Ranking</h3><ol class="ranking">${v.ranking.map((member, i) => html`<li>${member}${
      typeof v.meanRanks[i] === 'number' ? html` <span class="muted small">mean rank ${v.meanRanks[i].toFixed(2)}</span>` : ''}</li>`)}</ol>`);
  }
  if (v.reviews.length > 0) {
    parts.push(html`<h3>Peer reviews</h3><ul class="reviews">${v.reviews.map((r) => html`<li>
      <strong>${r.reviewer}</strong> ranked ${(r.ranking ?? []).join(' > ')}
      <span class="muted small">(${Object.entries(r.letters ?? {}).map(([l, m]) => `${l}=${m}`).join(', ')})</span></li>`)}</ul>`);
  }
  return parts.length ? html`<section aria-label="Verdict">${parts}</section>` : null;
}

export function RunView({ id }) {
  const [run, setRun] = useState(null);
  const [error, setError] = useState(null);

  useEffect(() => {
    let live = true;
    setRun(null);
    setError(null);
    getJson(`/v1/runs/${encodeURIComponent(id)}`)
      .then((body) => live && setRun(runModel(body)))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [id]);

  const back = html`<p><a href="#/runs">← History</a></p>`;
  if (error) return html`<section>${back}<${ErrorNote} error=${error} /></section>`;
  if (!run) return html`<section>${back}<p class="muted" role="status">Loading…</p></section>`;
  const all = [...run.members, ...run.combiner];
  const ok = run.members.filter((m) => m.status === 'ok' && m.text);
  const marks = ok.length > 1 ? agreement(ok.map((m) => m.text)) : null;
  return html`<section aria-labelledby="run-title">
    ${back}
    <div class="view-head">
      <h1 id="run-title">${run.target} <span class="muted">${run.targetKind}</span></h1>
      <${StatusBadge} status=${run.status} />
    </div>
    <dl class="figures summary">
      <div><dt>Started</dt><dd>${when(run.startedMs)}</dd></div>
      <div><dt>Wall time</dt><dd>${duration(run.wallMs)}</dd></div>
      <div><dt>Tokens</dt><dd>${tokens(run.usage)}</dd></div>
      <div><dt>Total cost</dt><dd class="cost">${usd(run.costUsd)}</dd></div>
      ${run.combine && html`<div><dt>Combine</dt><dd>${run.combine}</dd></div>`}
      <div><dt>Run</dt><dd><code>${run.id}</code></dd></div>
    </dl>
    ${run.prompt && html`<h2>Question</h2><pre class="text">${run.prompt}</pre>`}
    <h2>Answer</h2>
    ${run.answer ? html`<pre class="text answer">${run.answer}</pre>` : html`<p class="muted">No answer.</p>`}
    ${run.note && html`<p class="note"><strong>Note:</strong> ${run.note}</p>`}
    <${Votes} votes=${run.votes} />
    <${Verdict} v=${run.verdict} />
    <h2>Members</h2>
    ${marks && html`<p class="small muted">Marked: words no other member used.</p>`}
    <div class="members">${all.map((m) => html`<${Member} m=${m}
      segments=${marks && ok.includes(m) ? marks[ok.indexOf(m)] : null} />`)}</div>
  </section>`;
}
