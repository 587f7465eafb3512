// The Live view (#/live): every question and run in flight, and the ones
// that ended while the page watched; and one question (#/live/RUN): its
// members in columns as their tokens stream in, each member's state, a
// waterfall of their times, and the answer as the strategy forms it.

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { agreement, MarkedText } from './agree.js';
import { duration, tokens, usd } from './format.js';
import { useLive } from './live_feed.js';
import { ordered } from './live_model.js';
import { ErrorNote, StatusBadge } from './parts.js';
import { Votes } from './run_view.js';

/// What a member's state says, in words.
function stateText(m) {
  switch (m.state) {
    case 'waiting': return 'waiting';
    case 'queued': return 'queued for a permit';
    case 'sent': return m.attempt > 1 ? `sent (attempt ${m.attempt})` : 'waiting for the first token';
    case 'streaming': return 'streaming';
    case 'retrying': return `retrying in ${duration(m.waitMs)} after ${m.reason}`;
    case 'done': return 'done';
    case 'cancelled': return 'cancelled';
    case 'failed': return `failed: ${m.outcome?.kind ?? ''}`;
    default: return m.state;
  }
}

/// The member's state as a badge (colour and words).
function MemberState({ m }) {
  const cls = m.state === 'done' ? 'ok' : m.state === 'failed' ? 'failed'
    : m.state === 'retrying' ? 'partial' : m.state;
  return html`<span class=${`badge status-${cls}`} data-state=${m.state}>${stateText(m)}</span>`;
}

/// Milliseconds the question has run, on the page's clock.
function ageOf(q) {
  return q.doneMs ?? Math.max(0, Date.now() - q.createdMs);
}

function MemberDots({ q }) {
  return html`<span class="dots">${q.members.map((m) => html`<span
    class=${`dot state-${m.state}`} title=${`${m.label}: ${stateText(m)}`}></span>`)}</span>`;
}

function LiveList({ live, error }) {
  const questions = ordered(live);
  return html`<section aria-labelledby="live-title">
    <div class="view-head">
      <h1 id="live-title">Live</h1>
      <span class="muted small" role="status">${live.connected ? 'connected' : 'connecting…'}</span>
    </div>
    ${error && html`<${ErrorNote} error=${error} />`}
    ${questions.length === 0
      ? html`<p class="muted">Nothing in flight. Questions appear here as they are asked.</p>`
      : html`<table class="live-list">
      <thead><tr><th scope="col">Target</th><th scope="col">API</th><th scope="col">Key</th>
        <th scope="col">Members</th><th scope="col" class="num">Time</th><th scope="col">Status</th></tr></thead>
      <tbody>${questions.map((q) => html`<tr data-run=${q.run}>
        <td><a href=${`#/live/${encodeURIComponent(q.run)}`}>${q.target}</a> <span class="muted small">${q.kind}</span></td>
        <td class="small">${q.api}</td>
        <td class="small">${q.key || html`<span class="muted">admin</span>`}</td>
        <td><${MemberDots} q=${q} /></td>
        <td class="num">${duration(ageOf(q))}</td>
        <td><${StatusBadge} status=${q.status} /></td>
      </tr>`)}</tbody>
    </table>`}
  </section>`;
}

/// The members' times as a waterfall: queued, waiting for the first token,
/// streaming, each bar ending where the member did.
function Timeline({ q }) {
  const end = Math.max(1, ageOf(q), ...q.members.map((m) => m.doneMs ?? 0));
  const rowH = 22;
  const labelW = 140;
  const width = 760;
  const x = (t) => labelW + ((width - labelW - 10) * Math.min(t, end)) / end;
  const rows = q.members.map((m, i) => {
    const y = i * rowH + 4;
    const stop = m.doneMs ?? ageOf(q);
    const parts = [];
    const start = m.queuedMs ?? m.sentMs ?? m.firstTokenMs;
    if (start !== null && start !== undefined) {
      const sent = m.sentMs ?? stop;
      const first = m.firstTokenMs ?? stop;
      parts.push(html`<rect class="seg-queued" x=${x(start)} y=${y} width=${Math.max(1, x(sent) - x(start))} height="14" />`);
      if (m.sentMs !== null) parts.push(html`<rect class="seg-waiting" x=${x(sent)} y=${y} width=${Math.max(1, x(first) - x(sent))} height="14" />`);
      if (m.firstTokenMs !== null) parts.push(html`<rect class=${`seg-${m.state === 'failed' ? 'failed' : 'streaming'}`} x=${x(first)} y=${y} width=${Math.max(1, x(stop) - x(first))} height="14" />`);
    }
    if (m.doneMs !== null && m.state === 'failed' && m.firstTokenMs === null) {
      parts.push(html`<rect class="seg-failed" x=${x(stop) - 3} y=${y} width="6" height="14" />`);
    }
    return html`<g>
      <text x="0" y=${y + 12} class="tl-label">${m.step ? `${m.step}/` : ''}${m.label}</text>
      ${parts}
      ${m.doneMs !== null && html`<text x=${Math.min(x(stop) + 4, width - 60)} y=${y + 12} class="tl-time">${duration(m.doneMs)}</text>`}
    </g>`;
  });
  return html`<figure class="timeline">
    <svg viewBox=${`0 0 ${width} ${q.members.length * rowH + 8}`} role="img"
      aria-label="Members' timeline: queued, waiting for the first token, streaming">${rows}</svg>
    <figcaption class="small muted">
      <span class="key seg-queued"></span> queued <span class="key seg-waiting"></span> waiting for the first token
      <span class="key seg-streaming"></span> streaming <span class="key seg-failed"></span> failed
      · 0 to ${duration(end)}
    </figcaption>
  </figure>`;
}

function Column({ m, segments }) {
  const o = m.outcome;
  return html`<article class=${`member ${m.state === 'failed' ? 'failed' : ''}`} aria-label=${`member ${m.label}`} data-member=${m.label}>
    <header>
      <h3>${m.step && html`<span class="muted">${m.step} · </span>`}${m.label}</h3>
      <${MemberState} m=${m} />
    </header>
    ${m.state === 'retrying' && m.message && html`<p class="failure small">${m.message}</p>`}
    ${o && !o.ok && html`<p class="failure"><strong>${o.kind}</strong>${o.http_status ? ` (HTTP ${o.http_status})` : ''}: ${o.message}</p>`}
    ${o && html`<dl class="figures">
      <div><dt>Latency</dt><dd>${duration(o.timing?.total_ms)}</dd></div>
      <div><dt>Tokens</dt><dd>${tokens(o.usage)}</dd></div>
      <div><dt>Cost</dt><dd>${usd(o.cost_usd)}</dd></div>
    </dl>`}
    ${segments ? html`<${MarkedText} segments=${segments} />`
      : m.text && html`<pre class="text" aria-live="off">${m.text}</pre>`}
  </article>`;
}

/// One question; `embedded` in another view (the playground), without its
/// way back and its answer (the view shows it).
export function QuestionView({ live, run, embedded = false }) {
  const q = live.questions.get(run);
  const [, tick] = useState(0);
  useEffect(() => {
    // The waterfall grows with time while the question runs.
    const timer = setInterval(() => tick((n) => n + 1), 500);
    return () => clearInterval(timer);
  }, []);
  const back = embedded ? null : html`<p><a href="#/live">← Live</a></p>`;
  if (!q) {
    return html`<section>${back}<p class="muted" role="status">
      ${live.connected ? 'This question is not in flight here. ' : 'Connecting… '}
      It may be in <a href=${`#/runs/${encodeURIComponent(run)}`}>History</a>.</p></section>`;
  }
  const result = q.result;
  const done = q.status !== 'running';
  const okMembers = q.members.filter((m) => m.state === 'done' && !m.step);
  const marks = done && okMembers.length > 1 ? agreement(okMembers.map((m) => m.text)) : null;
  return html`<section aria-labelledby="question-title">
    ${back}
    <div class="view-head">
      <h1 id="question-title">${q.target} <span class="muted">${q.kind}${q.combine ? ` · ${q.combine}` : ''}</span></h1>
      <${StatusBadge} status=${q.status} />
    </div>
    <dl class="figures summary">
      <div><dt>Time</dt><dd>${duration(ageOf(q))}</dd></div>
      <div><dt>API</dt><dd>${q.api}</dd></div>
      <div><dt>Key</dt><dd>${q.key || 'admin'}</dd></div>
      ${result && html`<div><dt>Tokens</dt><dd>${tokens(result.usage)}</dd></div>
        <div><dt>Total cost</dt><dd class="cost">${usd(result.cost_usd)}</dd></div>`}
      ${result?.agreement !== undefined && result?.agreement !== null && html`<div><dt>Agreement</dt><dd>${Math.round(result.agreement * 100)}%</dd></div>`}
      <div><dt>Run</dt><dd><code>${q.run}</code></dd></div>
    </dl>
    ${Object.keys(q.steps).length > 0 && html`<p class="steps">${Object.entries(q.steps).map(([s, state]) => html`<span class=${`badge status-${state === 'done' ? 'ok' : state}`}>${s}: ${state}</span> `)}</p>`}
    ${!embedded && html`<h2>Answer</h2>
    ${q.answerText ? html`<pre class="text answer" aria-live="polite">${q.answerText}</pre>`
      : html`<p class="muted">${done ? 'No answer.' : 'Forming…'}</p>`}`}
    ${result?.note && html`<p class="note"><strong>Note:</strong> ${result.note}</p>`}
    ${result && html`<${Votes} votes=${result.votes} />`}
    ${done && html`<p><a href=${`#/runs/${encodeURIComponent(q.run)}`}>Open the stored run</a></p>`}
    <h2>Timeline</h2>
    <${Timeline} q=${q} />
    <h2>Members</h2>
    ${marks && html`<p class="small muted">Marked: words no other member used.</p>`}
    <div class="members">${q.members.map((m) => html`<${Column} m=${m}
      segments=${marks && okMembers.includes(m) ? marks[okMembers.indexOf(m)] : null} />`)}</div>
  </section>`;
}

/// #/live and #/live/RUN.
export function Live({ run, epoch }) {
  const { live, error } = useLive(epoch);
  return run ? html`<${QuestionView} live=${live} run=${run} />` : html`<${LiveList} live=${live} error=${error} />`;
}
