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
  const headers = { Accept: 'application/json' };
  if (key !== null) headers.Authorization = `Bearer ${key}`;
  const res = await fetch(target, { headers, credentials: 'omit', cache: 'no-store' });
  let body = null;
  try {
    body = await res.json();
  } catch {
    // not JSON: said below by the status alone
  }
  const error = body?.error ?? {};
  if (res.status === 401) {
    const message = error.message ?? 'This server needs a key';
    for (const listener of authListeners) listener(message);
    throw new AuthNeeded(message);
  }
  if (!res.ok) {
    throw new ApiError(res.status, error.code ?? '', error.message ?? `${res.status} ${res.statusText}`);
  }
  return body;
}
