// The page's one reader of GET /v1/live, shared by the views that show
// what is in flight (Live, a live question, the playground): open while one
// of them is on screen, closed when none is. What it has seen stays in
// memory until the page is reloaded.

import { useEffect, useState } from 'preact/hooks';
import { AuthNeeded, readEvents } from './api.js';
import { apply, emptyLive } from './live_model.js';

const live = emptyLive();
const watchers = new Set();
let users = 0;
let controller = null;
let error = null;
let redraw = null;

/// Tells the views, at most every 100 ms: a hundred streams at once must
/// not redraw the page on every token.
function changed() {
  if (redraw !== null) return;
  redraw = setTimeout(() => {
    redraw = null;
    for (const w of watchers) w();
  }, 100);
}

async function connect() {
  const mine = new AbortController();
  controller = mine;
  let wait = 500;
  while (controller === mine) {
    try {
      await readEvents('/v1/live', (name, data) => {
        let parsed;
        try {
          parsed = JSON.parse(data);
        } catch {
          return;
        }
        if (apply(live, name, parsed)) changed();
      }, { signal: mine.signal, onResponse: () => { error = null; wait = 500; } });
    } catch (e) {
      if (mine.signal.aborted) return;
      error = e;
      if (e instanceof AuthNeeded) {
        controller = null;
        changed();
        return;
      }
    }
    live.connected = false;
    changed();
    // The server went or the stream ended: read again, backing off.
    await new Promise((resolve) => setTimeout(resolve, wait));
    wait = Math.min(wait * 2, 10_000);
  }
}

/// The live model, read while the calling view is on screen; redraws it as
/// events arrive. `epoch` changes when a key is given: read again with it.
export function useLive(epoch) {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const watcher = () => setVersion((v) => v + 1);
    watchers.add(watcher);
    users += 1;
    if (controller === null) connect();
    return () => {
      watchers.delete(watcher);
      users -= 1;
      // Closed a moment later, so that going from one live view to the
      // next keeps the same stream.
      setTimeout(() => {
        if (users === 0 && controller !== null) {
          controller.abort();
          controller = null;
        }
      }, 2000);
    };
  }, []);
  useEffect(() => {
    if (epoch > 0 && controller === null) connect();
  }, [epoch]);
  return { live, error };
}
