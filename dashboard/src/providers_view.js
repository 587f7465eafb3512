// Providers and limits: GET /v1/providers, asked again every 2 s while the
// view is open. Per limit group: in flight against the concurrency, the
// queue, requests and tokens in the window against their limits, what the
// vendor says is left, the cooldown; per provider its breaker and note.
// Under them the last failed runs (GET /v1/runs?status=failed).

import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, AuthNeeded, getJson } from './api.js';
import { duration, when } from './format.js';
import { ErrorNote, StatusBadge } from './parts.js';

const POLL_MS = 2000;
const FAILURES_EVERY = 5; // polls: the store is asked every 10 s
const FAILURES = 10;

/// A count against its limit as a <meter> (amber from 70%, red from 90%), or
/// the count alone when there is no limit.
function Gauge({ label, value, limit }) {
  const has = typeof limit === 'number' && limit > 0;
  const v = typeof value === 'number' ? value : 0;
  return html`<div class="gauge">
    <dt>${label}</dt>
    <dd>
      ${has
        ? html`<meter min="0" max=${limit} low=${limit * 0.7} high=${limit * 0.9} optimum="0" value=${Math.min(v, limit)}
            aria-label=${`${label}: ${v} of ${limit}`}></meter>`
        : html`<span class="meter-none"></span>`}
      <span class="num">${v}${has ? ` / ${limit}` : html` <span class="muted">(no limit)</span>`}</span>
    </dd>
  </div>`;
}

/// A figure with no limit to be drawn against.
function Fact({ label, children }) {
  return html`<div class="gauge"><dt>${label}</dt><dd>${children}</dd></div>`;
}

/// A rate limit's window: "per minute", "per 10 s".
function per(window) {
  const ms = window?.per_ms;
  const names = { 1000: 'second', 60000: 'minute', 3600000: 'hour', 86400000: 'day' };
  if (!ms) return '';
  return ` per ${names[ms] ?? duration(ms)}`;
}

/// What the vendor's headers last said is left, or a dash.
function left(value) {
  return typeof value === 'number' ? String(value) : html`<span class="muted">not said</span>`;
}

function Breaker({ breaker }) {
  const state = breaker?.state ?? 'unknown';
  return html`<span class=${`badge breaker-${state}`}>${state.replace('_', ' ')}</span>`;
}

function Group({ n, name, providers }) {
  const p = providers[0]; // the group's figures are its limiter's: the same for each of its providers
  return html`<section class="group" aria-labelledby=${`group-${n}`}>
    <h2 id=${`group-${n}`}>${name} <span class="muted small">limit group</span></h2>
    <dl class="gauges">
      <${Gauge} label="In flight" value=${p.in_flight} limit=${p.concurrency} />
      <${Fact} label="Queued"><span class="num">${p.queued ?? 0}</span><//>
      <${Gauge} label=${`Requests${per(p.requests)}`} value=${p.requests?.in_window} limit=${p.requests?.limit} />
      <${Gauge} label=${`Tokens${per(p.tokens)}`} value=${p.tokens?.in_window} limit=${p.tokens?.limit} />
      <${Fact} label="Vendor says requests left">${left(p.server_requests_left)}<//>
      <${Fact} label="Vendor says tokens left">${left(p.server_tokens_left)}<//>
      <${Fact} label="Cooldown left">${p.cooldown_left_ms > 0 ? duration(p.cooldown_left_ms) : 'none'}<//>
    </dl>
    <table class="providers">
      <thead><tr>
        <th scope="col">Provider</th><th scope="col">Kind · model</th><th scope="col">Breaker</th>
        <th scope="col" class="num">Failures in a row</th><th scope="col">Note</th>
      </tr></thead>
      <tbody>${providers.map((q) => html`<tr data-provider=${q.name}>
        <th scope="row">${q.name}${!q.running && html` <span class="muted small">(not running)</span>`}</th>
        <td>${q.kind}${q.model && html`<span class="muted"> · ${q.model}</span>`}</td>
        <td><${Breaker} breaker=${q.breaker} /></td>
        <td class="num">${q.breaker?.consecutive_failures ?? 0}</td>
        <td>${q.note ?? ''}</td>
      </tr>`)}</tbody>
    </table>
  </section>`;
}

/// The providers by limit group, in the order the server lists them.
function groups(providers) {
  const by = new Map();
  for (const p of providers) {
    const name = p.limit_group || p.name;
    if (!by.has(name)) by.set(name, []);
    by.get(name).push(p);
  }
  return [...by];
}

function RecentFailures({ runs, error }) {
  const storeOff = error instanceof ApiError && error.code === 'store_disabled';
  return html`<section aria-labelledby="failures-title">
    <h2 id="failures-title">Recent failures</h2>
    ${storeOff
      ? html`<p class="muted">This server keeps no history (<code>store: none</code>).</p>`
      : error
        ? html`<${ErrorNote} error=${error} />`
        : runs === null
          ? html`<p class="muted" role="status">Loading…</p>`
          : runs.length === 0
            ? html`<p class="muted">No failed runs.</p>`
            : html`<table class="failures">
                <thead><tr><th scope="col">Started</th><th scope="col">Target</th><th scope="col">Status</th></tr></thead>
                <tbody>${runs.map((r) => html`<tr>
                  <td><a href=${`#/runs/${encodeURIComponent(r.id)}`}>${when(r.started_ms)}</a></td>
                  <td>${r.target}<span class="muted"> ${r.target_kind}</span></td>
                  <td><${StatusBadge} status=${r.status} /></td>
                </tr>`)}</tbody>
              </table>`}
  </section>`;
}

export function Providers() {
  const [providers, setProviders] = useState(null);
  const [error, setError] = useState(null);
  const [failures, setFailures] = useState({ runs: null, error: null });
  const [updated, setUpdated] = useState(0);

  useEffect(() => {
    let live = true;
    let timer = 0;
    let polls = 0;
    const poll = async () => {
      if (polls++ % FAILURES_EVERY === 0) {
        getJson('/v1/runs', { status: 'failed', limit: FAILURES })
          .then((page) => live && setFailures({ runs: page.data ?? [], error: null }))
          .catch((e) => live && setFailures({ runs: null, error: e }));
      }
      try {
        const body = await getJson('/v1/providers');
        if (!live) return;
        setProviders(body.data ?? []);
        setError(null);
        setUpdated(Date.now());
      } catch (e) {
        if (!live) return;
        setError(e);
        if (e instanceof AuthNeeded) return; // asked again once the key is given
      }
      if (live) timer = setTimeout(poll, POLL_MS);
    };
    poll();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, []);

  return html`<section aria-labelledby="providers-title">
    <div class="view-head">
      <h1 id="providers-title">Providers and limits</h1>
      <span class="muted small">${updated ? `updated ${when(updated).slice(11)}, every 2 s` : ''}</span>
    </div>
    ${error && html`<${ErrorNote} error=${error} />`}
    ${providers === null && !error && html`<p class="muted" role="status">Loading…</p>`}
    ${providers?.length === 0 && html`<p class="muted">This server has no providers.</p>`}
    ${providers && groups(providers).map(([name, members], n) => html`<${Group} key=${name} n=${n} name=${name} providers=${members} />`)}
    <${RecentFailures} runs=${failures.runs} error=${failures.error} />
  </section>`;
}
