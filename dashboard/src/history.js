// History: the stored runs from GET /v1/runs, newest first, filtered by
// target, status, key, session and time, a page at a time ("More" follows
// next_cursor).

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, getJson } from './api.js';
import { duration, tokens, usd, when } from './format.js';
import { ErrorNote, StatusBadge } from './parts.js';

const PAGE = 50;
const STATUSES = ['', 'ok', 'partial', 'failed', 'cancelled'];
const NO_FILTER = { target: '', status: '', key: '', session: '', from: '', to: '' };

/// A datetime-local field's value as Unix milliseconds; '' when empty or
/// not a time.
function unixMs(local) {
  const ms = local ? new Date(local).getTime() : NaN;
  return Number.isFinite(ms) ? ms : '';
}

/// The query of GET /v1/runs for the filter the form holds.
export function runsQuery(filter) {
  const { from, to, ...rest } = filter;
  return { ...rest, since: unixMs(from), until: unixMs(to) };
}

function RunRow({ run }) {
  const wallMs = typeof run.wall_us === 'number' ? run.wall_us / 1000 : null;
  return html`<tr>
    <td><a href=${`#/runs/${encodeURIComponent(run.id)}`} class="run-link">${when(run.started_ms)}</a></td>
    <td>${run.target}<span class="muted"> ${run.target_kind}</span></td>
    <td><${StatusBadge} status=${run.status} /></td>
    <td class="num">${duration(wallMs)}</td>
    <td class="num">${tokens(run.usage)}</td>
    <td class="num cost">${usd(run.cost_usd)}</td>
    <td class="muted">${run.kind}${run.key ? ` · ${run.key}` : ''}</td>
  </tr>`;
}

export function History() {
  const [filter, setFilter] = useState(NO_FILTER);
  const [draft, setDraft] = useState(NO_FILTER);
  const [runs, setRuns] = useState([]);
  const [cursor, setCursor] = useState(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState(null);
  const [reloads, setReloads] = useState(0);

  const load = async (from) => {
    setLoading(true);
    setError(null);
    try {
      const page = await getJson('/v1/runs', { ...runsQuery(filter), limit: PAGE, cursor: from });
      setRuns((before) => (from ? [...before, ...page.data] : page.data));
      setCursor(page.has_more ? page.next_cursor : null);
    } catch (e) {
      setError(e);
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    load(null);
  }, [filter, reloads]);

  const apply = (event) => {
    event.preventDefault();
    setFilter({ ...draft });
  };

  const storeOff = error instanceof ApiError && error.code === 'store_disabled';
  return html`<section aria-labelledby="history-title">
    <div class="view-head">
      <h1 id="history-title">History</h1>
      <button type="button" onClick=${() => setReloads((n) => n + 1)}>Refresh</button>
    </div>
    <form class="filters" onSubmit=${apply}>
      <label>Target
        <input name="target" value=${draft.target} placeholder="any ensemble, provider or pipeline"
          onInput=${(e) => setDraft({ ...draft, target: e.currentTarget.value })} />
      </label>
      <label>Status
        <select name="status" value=${draft.status}
          onChange=${(e) => setDraft({ ...draft, status: e.currentTarget.value })}>
          ${STATUSES.map((s) => html`<option value=${s}>${s || 'any'}</option>`)}
        </select>
      </label>
      <label>Key
        <input name="key" value=${draft.key} placeholder="any API key"
          onInput=${(e) => setDraft({ ...draft, key: e.currentTarget.value })} />
      </label>
      <label>Session
        <input name="session" value=${draft.session} placeholder="any conversation"
          onInput=${(e) => setDraft({ ...draft, session: e.currentTarget.value })} />
      </label>
      <label>From
        <input name="from" type="datetime-local" value=${draft.from}
          onInput=${(e) => setDraft({ ...draft, from: e.currentTarget.value })} />
      </label>
      <label>To
        <input name="to" type="datetime-local" value=${draft.to}
          onInput=${(e) => setDraft({ ...draft, to: e.currentTarget.value })} />
      </label>
      <button type="submit">Filter</button>
      <button type="button" class="secondary" onClick=${() => { setDraft(NO_FILTER); setFilter(NO_FILTER); }}>Clear</button>
    </form>
    ${storeOff
      ? html`<p class="note">This server keeps no runs (<code>store: none</code>): start it with
          <code>--store runs.db</code> or a <code>store:</code> section to see its history.</p>`
      : error && html`<${ErrorNote} error=${error} />`}
    ${!storeOff && html`<table class="runs">
      <caption class="visually-hidden">Runs, newest first</caption>
      <thead><tr>
        <th scope="col">Started</th><th scope="col">Target</th><th scope="col">Status</th>
        <th scope="col" class="num">Wall time</th><th scope="col" class="num">Tokens</th>
        <th scope="col" class="num">Cost</th><th scope="col">Via</th>
      </tr></thead>
      <tbody>${runs.map((run) => html`<${RunRow} key=${run.id} run=${run} />`)}</tbody>
    </table>`}
    ${!loading && !error && runs.length === 0 && html`<p class="muted">${
      Object.values(filter).some((v) => v) ? 'No runs match these filters.' : 'No runs yet.'}</p>`}
    <div class="more">
      ${loading && html`<span class="muted" role="status">Loading…</span>`}
      ${!loading && cursor && html`<button type="button" onClick=${() => load(cursor)}>More</button>`}
    </div>
  </section>`;
}
