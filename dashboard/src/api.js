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

/// The headers of a call: what it accepts, and the key when there is one.
function headers(accept) {
  const all = { Accept: accept };
  if (key !== null) all.Authorization = `Bearer ${key}`;
  return all;
}

/// The JSON body of `res`, or null when it has none (the status says it all).
async function jsonOf(res) {
  try {
    return await res.json();
  } catch {
    return null;
  }
}

/// The error a response that is not 2xx makes, `body` its JSON (or null);
/// a 401 tells the listeners first.
function failure(res, body) {
  const error = body?.error ?? {};
  if (res.status === 401) {
    const message = error.message ?? 'This server needs a key';
    for (const listener of authListeners) listener(message);
    return new AuthNeeded(message);
  }
  return new ApiError(res.status, error.code ?? '', error.message ?? `${res.status} ${res.statusText}`);
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
  const res = await fetch(target, { headers: headers('application/json'), credentials: 'omit', cache: 'no-store' });
  const body = await jsonOf(res);
  if (!res.ok) throw failure(res, body);
  return body;
}

/// GETs `path` as a stream of server-sent events, with the key in the
/// Authorization header (EventSource cannot send one), and calls
/// `onEvent(type, data)` for each event, `data` parsed as JSON; resolves when
/// the stream ends. `signal` (an AbortSignal) stops it. Rejects as getJson.
export async function readEvents(path, onEvent, signal) {
  const res = await fetch(path, { headers: headers('text/event-stream'), credentials: 'omit', cache: 'no-store', signal });
  if (!res.ok) throw failure(res, await jsonOf(res));
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const events = (buffer += value).replace(/\r\n/g, '\n').split('\n\n');
    buffer = events.pop();
    if (buffer.length > 1 << 20) throw new ApiError(0, '', 'an event longer than 1 MiB');
    for (const text of events) {
      const type = /^event: ?(.*)$/m.exec(text)?.[1];
      const data = /^data: ?(.*)$/m.exec(text)?.[1];
      if (!type || data === undefined) continue; // a ": keep-alive" comment
      let parsed = null;
      try {
        parsed = JSON.parse(data);
      } catch {
        continue;
      }
      onEvent(type, parsed);
    }
  }
}
