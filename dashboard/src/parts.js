// Small pieces the views share.

import { html } from 'htm/preact';
import { AuthNeeded } from './api.js';

/// A run's or a member's status as a coloured word (never colour alone).
export function StatusBadge({ status }) {
  return html`<span class=${`badge status-${status}`}>${status}</span>`;
}

/// What went wrong with a request, in the API's own words.
export function ErrorNote({ error }) {
  if (error instanceof AuthNeeded) {
    return html`<p class="note">This server needs a key: give it above.</p>`;
  }
  const code = error.code ? ` (${error.code})` : '';
  return html`<p class="note error" role="alert">${error.message}${code}</p>`;
}
