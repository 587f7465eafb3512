// The dashboard's only way to the server: the same HTTP API every client
// uses (docs/http.md). The key the user types is kept in this module's
// memory and nowhere else: not in the URL, not in localStorage or
// sessionStorage, not in a cookie. Reloading the page forgets it.

let key = null;
const authListeners = new Set();

/// Thrown when the server answers 401: a key is needed, or the one given is wrong.
export class AuthNeeded extends Error {}

/// Any other answer that is not 2xx, with the API's stable error code.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/// Uses `value` as the bearer key from now on (an empty value forgets it).
export function setKey(value) {
  key = value ? value : null;
}

export function hasKey() {
  return key !== null;
}

/// Calls `listener(message)` whenever a request is answered 401; returns
/// the function that stops it.
export function onAuthNeeded(listener) {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}

/// GETs `path` (with `params`, a plain object, as its query) and resolves
/// to its JSON body; rejects with AuthNeeded or ApiError.
export async function getJson(path, params = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') query.set(name, value);
  }
  const search = query.toString();
  const target = search ? `${path}?${search}` : path;
  const res = await fetch(target, { headers: headersWith(), credentials: 'omit', cache: 'no-store' });
  if (!res.ok) throw await failure(res);
  return res.json();
}

/// The headers of every request: JSON, and the key when there is one.
function headersWith(extra = {}) {
  const headers = { Accept: 'application/json', ...extra };
  if (key !== null) headers.Authorization = `Bearer ${key}`;
  return headers;
}

/// Throws what a non-2xx answer means (AuthNeeded on 401, else ApiError).
async function failure(res) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON
  }
  const error = body?.error ?? {};
  if (res.status === 401) {
    const message = error.message ?? 'This server needs a key';
    for (const listener of authListeners) listener(message);
    return new AuthNeeded(message);
  }
  return new ApiError(res.status, error.code ?? '', error.message ?? `${res.status} ${res.statusText}`);
}

/// Most bytes one event may hold before the stream is given up: the
/// server's own events are far smaller.
const maxEventBytes = 8 << 20;

/// Reads the server-sent events of `path` with fetch, not EventSource, so
/// that the key goes in a header: `onEvent(name, data)` for each event
/// (`name` "message" when the event has none), `onResponse(res)` once the
/// head is in. GET, or POST with `body` (a plain object, sent as JSON).
/// Resolves when the stream ends; `signal` stops it.
export async function readEvents(path, onEvent, { signal, body, onResponse } = {}) {
  const init = { headers: headersWith(), credentials: 'omit', cache: 'no-store', signal };
  if (body !== undefined) {
    init.method = 'POST';
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (!res.ok) throw await failure(res);
  onResponse?.(res);
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let name = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) name = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
        else if (line.startsWith('data:')) data.push(line.slice(5));
      }
      if (data.length > 0) onEvent(name, data.join('\n'));
    }
    if (buffer.length > maxEventBytes) throw new ApiError(0, 'event_too_large', 'An event of the stream is too large');
  }
}

/// Sends `body` (a plain object, as JSON; none for a DELETE) with `method`
/// to `path` and resolves to the JSON answer; rejects as getJson does.
export async function sendJson(method, path, body) {
  const init = { method, headers: headersWith(), credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  if (!res.ok) throw await failure(res);
  return res.json();
}
