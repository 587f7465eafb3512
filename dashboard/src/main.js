// The dashboard of `tutti serve` (docs/dashboard.md): a header with the
// views, the key form when the API answers 401, and the view the address's
// fragment names (#/live, #/live/ID, #/playground, #/runs, #/runs/ID). Only
// the run id goes in the address, never the key.

import { html } from 'htm/preact';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { hasKey, onAuthNeeded, setKey } from './api.js';
import { Batches } from './batches_view.js';
import { History } from './history.js';
import { Live } from './live_view.js';
import { Playground } from './playground.js';
import { Pipelines } from './pipelines_view.js';
import { Providers } from './providers_view.js';
import { RunView } from './run_view.js';
import { Stats } from './stats_view.js';

/// The view the address's fragment names.
function route() {
  const match = /^#\/runs\/([^/]+)$/.exec(location.hash);
  if (match) return { view: 'run', id: decodeURIComponent(match[1]) };
  const live = /^#\/live(?:\/([^/]+))?$/.exec(location.hash);
  if (live) return { view: 'live', id: live[1] ? decodeURIComponent(live[1]) : '' };
  if (location.hash === '#/playground') return { view: 'playground' };
  const batches = /^#\/batches(?:\/([^/]+))?$/.exec(location.hash);
  if (batches) return { view: 'batches', id: batches[1] ? decodeURIComponent(batches[1]) : '' };
  if (/^#\/stats\/?$/.test(location.hash)) return { view: 'stats' };
  if (/^#\/providers\/?$/.test(location.hash)) return { view: 'providers' };
  const pipelines = /^#\/pipelines(\/.*)?$/.exec(location.hash);
  if (pipelines) return { view: 'pipelines', rest: pipelines[1] ?? '' };
  return { view: 'history' };
}

function KeyForm({ message, onKey }) {
  const input = useRef(null);
  useEffect(() => input.current?.focus(), []);
  const submit = (event) => {
    event.preventDefault();
    const value = input.current.value.trim();
    input.current.value = '';
    if (value) onKey(value);
  };
  return html`<form class="key-form" onSubmit=${submit} aria-labelledby="key-title">
    <h2 id="key-title">This server needs a key</h2>
    <p>${message}</p>
    <label>Token or API key
      <input ref=${input} type="password" name="tutti-key" autocomplete="off" spellcheck="false" required />
    </label>
    <button type="submit">Use this key</button>
    <p class="muted small">The key stays in this tab's memory only: not in the address, storage or
      cookies. Reloading the page forgets it.</p>
  </form>`;
}

function App() {
  const [where, setWhere] = useState(route());
  const [authMessage, setAuthMessage] = useState(null);
  const [epoch, setEpoch] = useState(0);

  useEffect(() => {
    const changed = () => setWhere(route());
    addEventListener('hashchange', changed);
    const stop = onAuthNeeded((message) => setAuthMessage(
      hasKey() ? `That key was refused: ${message}` : message));
    return () => {
      removeEventListener('hashchange', changed);
      stop();
    };
  }, []);

  const acceptKey = (value) => {
    setKey(value);
    setAuthMessage(null);
    setEpoch((n) => n + 1); // the view asks again, with the key
  };

  return html`<div class="shell">
    <header class="top">
      <a class="brand" href="#/runs">tutti</a>
      <nav aria-label="Views">
        <a href="#/live" aria-current=${where.view === 'live' ? 'page' : undefined}>Live</a>
        <a href="#/playground" aria-current=${where.view === 'playground' ? 'page' : undefined}>Playground</a>
        <a href="#/runs" aria-current=${where.view === 'history' || where.view === 'run' ? 'page' : undefined}>History</a>
        <a href="#/stats" aria-current=${where.view === 'stats' ? 'page' : undefined}>Stats</a>
        <a href="#/providers" aria-current=${where.view === 'providers' ? 'page' : undefined}>Providers</a>
        <a href="#/pipelines" aria-current=${where.view === 'pipelines' ? 'page' : undefined}>Pipelines</a>
        <a href="#/batches" aria-current=${where.view === 'batches' ? 'page' : undefined}>Batches</a>
      </nav>
      <span class="muted small">${hasKey() ? 'key in memory' : ''}</span>
    </header>
    <main>
      ${authMessage !== null && html`<${KeyForm} message=${authMessage} onKey=${acceptKey} />`}
      ${where.view === 'run' ? html`<${RunView} key=${`${where.id}:${epoch}`} id=${where.id} />`
        : where.view === 'live' ? html`<${Live} run=${where.id} epoch=${epoch} />`
        : where.view === 'playground' ? html`<${Playground} epoch=${epoch} />`
        : where.view === 'batches' ? html`<${Batches} key=${`${where.id}:${epoch}`} id=${where.id} />`
        : where.view === 'stats' ? html`<${Stats} key=${epoch} />`
        : where.view === 'providers' ? html`<${Providers} key=${epoch} />`
        : where.view === 'pipelines' ? html`<${Pipelines} key=${epoch} rest=${where.rest} />`
        : html`<${History} key=${epoch} />`}
    </main>
  </div>`;
}

render(html`<${App} />`, document.getElementById('app'));
