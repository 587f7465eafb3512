// live_bench: 100 concurrent streamed ensembles with the dashboard's Live
// view open, against the same burst with no reader and with a plain reader
// of GET /v1/live (docs/benchmarks.md, "live_bench").
//
//   node bench/live_bench.mjs [--rounds N] [--questions N] [--readers N]
//                             [--tutti PATH] [--fake PATH] [--chromium PATH]
//
// Starts tutti-fake-llm (bench/live_bench_upstream.yaml) and `tutti serve`
// (bench/live_bench.yaml, store: none) on loopback, then runs rounds of
// three conditions in a rotating order (ABC, BCA, CAB, ...):
//
//   closed  nobody reads /v1/live
//   reader  a Node worker thread reads /v1/live and parses every event
//           (--readers N: N of them, to make the feed's cost stand out)
//   page    chromium with the dashboard at #/live, and a second page that
//           opens the burst's first question at #/live/RUN
//
// Each condition fires `--questions` streamed chat completions of
// ensemble/quartet at once through fetch and reads each to its end. Per
// condition it measures the server's CPU (utime+stime of the serve PID over
// the burst and 250 ms after; its idle CPU once, before the rounds), each
// answer's latency (request to last byte) and time to first byte; for
// `reader` the events it parsed; for `page` that
// the page showed every question finished, its main thread's long tasks, the
// lateness of a 100 ms heartbeat inside it, and chromium's own CPU. Every
// answer is checked (HTTP 200, [DONE], non-empty content), and the reader's
// and the page's view of the burst too: the bench exits 1 with FAILED when
// one is wrong, since timing a broken path would measure the wrong thing.
//
// playwright-core comes from tests/browser/node_modules (npm ci --prefix
// tests/browser); the serve fixture from tests/node/serve_fixture.mjs.

import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = join(benchDir, '..');
const ensemble = 'ensemble/quartet';
const conditions = ['closed', 'reader', 'page'];
/// The CPU window runs this long past the burst's last byte in every
/// condition, so that the feed's last events (written at most 50 ms later)
/// are counted.
const tailMs = 250;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- reader

/// The worker thread's side: reads GET /v1/live, parses every event, counts
/// them by type and keeps the runs that ended. Answers 'mark' (count from
/// here) and 'report' (the counts since the mark).
async function readerThread({ url }) {
  const controller = new AbortController();
  let counts = {};
  let bytes = 0;
  let done = [];
  let resets = 0;
  parentPort.on('message', (msg) => {
    if (msg === 'mark') {
      counts = {};
      bytes = 0;
      done = [];
      resets = 0;
    } else if (msg === 'report') {
      parentPort.postMessage({ counts, bytes, done, resets });
    } else if (msg === 'stop') {
      controller.abort();
    }
  });
  try {
    const res = await fetch(`${url}/v1/live`, { signal: controller.signal });
    if (res.status !== 200) throw new Error(`GET /v1/live: HTTP ${res.status}`);
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of res.body) {
      bytes += chunk.length;
      buffer += decoder.decode(chunk, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = 'message';
        let data = null;
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) name = line.slice(7);
          else if (line.startsWith('data: ')) data = line.slice(6);
        }
        if (data === null) continue; // a keep-alive comment
        const event = JSON.parse(data);
        counts[name] = (counts[name] ?? 0) + 1;
        if (name === 'snapshot') parentPort.postMessage({ ready: true });
        if (name === 'reset') resets += 1;
        if (name === 'question.done') done.push(event.run);
      }
    }
  } catch (e) {
    if (!controller.signal.aborted) parentPort.postMessage({ error: String(e?.stack ?? e) });
  }
  parentPort.postMessage({ stopped: true });
}

/// A reader of /v1/live on its own thread (so that its parsing does not
/// share the bench's event loop); resolves once it has the snapshot.
async function startReader(url) {
  const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { url } });
  const waiting = [];
  let failure = null;
  worker.on('message', (msg) => {
    if (msg.error) failure = msg.error;
    const next = waiting.shift();
    if (next) next(msg);
  });
  worker.on('error', (e) => {
    failure = String(e);
  });
  const next = () => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`reader: no answer within 10 s ${failure ?? ''}`)), 10_000);
    waiting.push((msg) => {
      clearTimeout(timer);
      resolve(msg);
    });
  });
  const ready = await next();
  if (!ready.ready) throw new Error(`reader: ${ready.error ?? JSON.stringify(ready)}`);
  return {
    mark: () => worker.postMessage('mark'),
    report: () => {
      const answer = next();
      worker.postMessage('report');
      return answer;
    },
    stop: async () => {
      worker.postMessage('stop');
      await Promise.race([next(), sleep(2000)]).catch(() => {});
      await worker.terminate();
    },
    failure: () => failure,
  };
}

// ---------------------------------------------------------------- /proc

const clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/// [ppid, utime+stime in ticks] of `pid`, or null when it is gone.
function procStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // After the name: state(3) ppid(4) ... utime(14) stime(15), 1-based.
    return [Number(f[1]), Number(f[11]) + Number(f[12])];
  } catch {
    return null;
  }
}

/// CPU milliseconds `pid` has used so far.
function cpuMs(pid) {
  const s = procStat(pid);
  return s ? (s[1] * 1000) / clockTicks : NaN;
}

/// Whether `pid` is one of chromium's renderers (a page's process).
function isRenderer(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer');
  } catch {
    return false;
  }
}

/// CPU milliseconds used by the processes under `pid` (not `pid` itself),
/// leaving out the pids in `skip` and theirs: chromium's, under the bench.
/// {all, renderers}: every process, and the renderers alone.
function childrenCpuMs(pid, skip) {
  const stats = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = procStat(name);
    if (s) stats.set(Number(name), s);
  }
  const children = new Map();
  for (const [p, [ppid]] of stats) {
    if (!children.has(ppid)) children.set(ppid, []);
    children.get(ppid).push(p);
  }
  let ticks = 0;
  let rendererTicks = 0;
  const stack = [...(children.get(pid) ?? [])];
  for (let n = 0; stack.length > 0 && n < 10_000; ++n) {
    const p = stack.pop();
    if (skip.has(p)) continue;
    const own = stats.get(p)?.[1] ?? 0;
    ticks += own;
    if (isRenderer(p)) rendererTicks += own;
    stack.push(...(children.get(p) ?? []));
  }
  return { all: (ticks * 1000) / clockTicks, renderers: (rendererTicks * 1000) / clockTicks };
}

// ---------------------------------------------------------------- asking

/// One streamed question of the ensemble, read to its end; resolves to its
/// figures and what was wrong with it (null when nothing).
async function ask(url, i, onRun) {
  const t0 = performance.now();
  const out = { run: null, ttfb: NaN, latency: NaN, problem: null };
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        model: ensemble, stream: true,
        messages: [{ role: 'user', content: `What is the capital of France? (${i})` }],
      }),
      signal: AbortSignal.timeout(60_000),
    });
    out.run = res.headers.get('x-tutti-run-id');
    if (out.run) onRun?.(out.run);
    const decoder = new TextDecoder();
    const pieces = [];
    for await (const chunk of res.body) {
      if (Number.isNaN(out.ttfb)) out.ttfb = performance.now() - t0;
      pieces.push(decoder.decode(chunk, { stream: true }));
    }
    out.latency = performance.now() - t0;
    const body = pieces.join('');
    if (res.status !== 200) {
      out.problem = `HTTP ${res.status}: ${body.slice(0, 200)}`;
      return out;
    }
    if (!out.run) out.problem = 'no x-tutti-run-id';
    let content = '';
    let sawDone = false;
    for (const line of body.split('\n')) {
      if (!line.startsWith('data: ')) continue;
      const data = line.slice(6).trim();
      if (data === '[DONE]') {
        sawDone = true;
        continue;
      }
      const event = JSON.parse(data);
      if (event.error) out.problem = `error event: ${data.slice(0, 200)}`;
      content += event.choices?.[0]?.delta?.content ?? '';
    }
    if (!sawDone) out.problem ??= 'no [DONE]';
    if (content.trim() === '') out.problem ??= 'empty content';
  } catch (e) {
    out.problem = String(e?.message ?? e);
  }
  return out;
}

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

function median(values) {
  const v = values.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

// ---------------------------------------------------------------- the page

/// Runs in the page before its own scripts: long tasks and a 100 ms
/// heartbeat, counted from `window.__bench.mark()`.
function pageProbe() {
  const bench = { tasks: [], from: 0, last: 0, maxLate: 0, beats: 0 };
  bench.mark = () => {
    bench.from = performance.now();
    bench.maxLate = 0;
    bench.beats = 0;
  };
  bench.read = () => {
    const tasks = bench.tasks.filter((t) => t.start + t.duration >= bench.from);
    return {
      longTasks: tasks.length,
      longTaskMs: tasks.reduce((s, t) => s + t.duration, 0),
      longTaskMaxMs: tasks.reduce((m, t) => Math.max(m, t.duration), 0),
      maxLateMs: bench.maxLate,
      beats: bench.beats,
      spanMs: performance.now() - bench.from,
      // Each long task: when it started (ms after the mark) and how long.
      tasks: tasks.map((t) => [Math.round(t.start - bench.from), Math.round(t.duration)]),
    };
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) bench.tasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: 'longtask', buffered: true });
  setInterval(() => {
    const now = performance.now();
    if (bench.last > 0 && now >= bench.from) {
      bench.maxLate = Math.max(bench.maxLate, now - bench.last - 100);
      bench.beats += 1;
    }
    bench.last = now;
  }, 100);
  window.__bench = bench;
}

async function openLivePage(browser, url, problems) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  await page.addInitScript(pageProbe);
  await page.goto(`${url}/#/live`, { timeout: 15_000 });
  await page.getByText('connected', { exact: true }).waitFor({ timeout: 15_000 });
  return { context, page };
}

/// How many of `runs` the list shows, and how many of them not running.
function listed(page, runs) {
  return page.evaluate((wanted) => {
    const set = new Set(wanted);
    let seen = 0;
    let done = 0;
    for (const tr of document.querySelectorAll('table.live-list tbody tr')) {
      if (!set.has(tr.dataset.run)) continue;
      seen += 1;
      const badge = tr.querySelector('td:last-child .badge');
      if (badge && badge.textContent.trim() !== 'running') done += 1;
    }
    return { seen, done };
  }, runs);
}

/// The status the question view shows, '' when none yet.
function questionStatus(page) {
  return page.evaluate(() => {
    if (!document.getElementById('question-title')) return '';
    return document.querySelector('.view-head .badge')?.textContent.trim() ?? '';
  });
}

// ---------------------------------------------------------------- a burst

async function burst(ctx, condition, round) {
  const { url, servePid, browser, questions } = ctx;
  const result = { condition, round, problems: [] };
  let readers = [];
  let list = null;
  let single = null;
  const pageProblems = [];
  if (condition === 'reader') {
    for (let i = 0; i < ctx.readers; ++i) readers.push(await startReader(url));
  }
  if (condition === 'page') {
    list = await openLivePage(browser, url, pageProblems);
    single = await openLivePage(browser, url, pageProblems);
  }
  await sleep(1000); // settle
  for (const reader of readers) reader.mark();
  if (condition === 'page') {
    await list.page.evaluate(() => window.__bench.mark());
    await single.page.evaluate(() => window.__bench.mark());
  }
  const browserCpu = () => childrenCpuMs(process.pid, ctx.notBrowser);
  const browser0 = condition === 'page' ? browserCpu() : null;
  const load0 = loadavg()[0];
  const cpu0 = cpuMs(servePid);
  const t0 = performance.now();
  let opened = null;
  const onRun = (run) => {
    if (single && opened === null) {
      opened = run;
      single.page.evaluate((r) => { location.hash = `#/live/${encodeURIComponent(r)}`; }, run)
        .catch((e) => pageProblems.push(`opening #/live/RUN: ${e.message}`));
    }
  };
  const answers = await Promise.all(Array.from({ length: questions }, (_, i) => ask(url, i, onRun)));
  const wall = performance.now() - t0;
  const runs = answers.map((a) => a.run).filter(Boolean);
  // From the last answer on: how long until the list shows every question
  // finished (polled every 25 ms, at most 10 s).
  const pagePoll = condition !== 'page' ? null : (async () => {
    let seen = { seen: 0, done: 0 };
    for (let i = 0; i < 400; ++i) {
      seen = await listed(list.page, runs);
      if (seen.done === runs.length) return { ...seen, caughtUp: performance.now() - (t0 + wall) };
      await sleep(25);
    }
    return { ...seen, caughtUp: NaN };
  })();
  await sleep(tailMs);
  const cpu1 = cpuMs(servePid);
  result.cpuMs = cpu1 - cpu0;
  if (condition === 'page') {
    const browser1 = browserCpu();
    result.browserCpuMs = browser1.all - browser0.all;
    result.rendererCpuMs = browser1.renderers - browser0.renderers;
  } else {
    result.browserCpuMs = NaN;
    result.rendererCpuMs = NaN;
  }
  result.load = (load0 + loadavg()[0]) / 2;
  result.wallMs = wall;

  const bad = answers.filter((a) => a.problem);
  for (const a of bad.slice(0, 5)) result.problems.push(`question ${a.run}: ${a.problem}`);
  if (bad.length > 5) result.problems.push(`... and ${bad.length - 5} more failed questions`);
  const lat = answers.map((a) => a.latency).sort((a, b) => a - b);
  const ttfb = answers.map((a) => a.ttfb).sort((a, b) => a - b);
  result.p50 = quantile(lat, 0.5);
  result.p95 = quantile(lat, 0.95);
  result.max = lat[lat.length - 1];
  result.ttfb50 = quantile(ttfb, 0.5);
  result.ttfb95 = quantile(ttfb, 0.95);

  if (readers.length > 0) {
    // The feed's last events come at most 50 ms after the answers; wait up
    // to 5 s for every question.done. `events`: what the readers got in
    // all.
    result.events = 0;
    result.eventBytes = 0;
    for (const [k, reader] of readers.entries()) {
      let report;
      for (let i = 0; i < 50; ++i) {
        report = await reader.report();
        const done = new Set(report.done);
        if (runs.every((r) => done.has(r))) break;
        await sleep(100);
      }
      const done = new Set(report.done);
      const missing = runs.filter((r) => !done.has(r)).length;
      if (missing > 0) result.problems.push(`reader ${k + 1}: ${missing} of ${runs.length} question.done events missing`);
      if (report.resets > 0) result.problems.push(`reader ${k + 1}: ${report.resets} reset events`);
      if (reader.failure()) result.problems.push(`reader ${k + 1}: ${reader.failure()}`);
      result.events += Object.values(report.counts).reduce((s, n) => s + n, 0);
      result.eventBytes += report.bytes;
      if (k === 0) result.eventCounts = report.counts;
    }
    for (const reader of readers) await reader.stop();
  }

  if (condition === 'page') {
    const seen = await pagePoll;
    result.pageSeen = seen.seen;
    result.pageDone = seen.done;
    result.pageCaughtUpMs = seen.caughtUp;
    if (seen.done !== runs.length) {
      result.problems.push(`page: 10 s after the burst the list shows ${seen.seen} of ${runs.length} questions, ${seen.done} finished`);
    }
    let status = '';
    for (let i = 0; i < 100 && (status === '' || status === 'running'); ++i) {
      status = await questionStatus(single.page);
      if (status === '' || status === 'running') await sleep(50);
    }
    result.questionStatus = status;
    // One member always fails: the answer is partial.
    if (status !== 'partial') result.problems.push(`page #/live/${opened}: status '${status}', expected 'partial'`);
    const a = await list.page.evaluate(() => window.__bench.read());
    const b = await single.page.evaluate(() => window.__bench.read());
    result.listProbe = a;
    result.questionProbe = b;
    result.longTasks = a.longTasks + b.longTasks;
    result.longTaskMs = a.longTaskMs + b.longTaskMs;
    result.longTaskMaxMs = Math.max(a.longTaskMaxMs, b.longTaskMaxMs);
    result.maxLateMs = Math.max(a.maxLateMs, b.maxLateMs);
    result.problems.push(...pageProblems);
    await list.context.close();
    await single.context.close();
  }
  return result;
}

// ---------------------------------------------------------------- main

function parseArgs(argv) {
  const opts = {
    rounds: 3,
    questions: 100,
    readers: 1,
    tutti: join(root, 'build/cli/tutti'),
    fake: join(root, 'build/tools/fake_llm/tutti-fake-llm'),
    chromium: process.env.TUTTI_CHROMIUM ?? '/usr/bin/chromium',
  };
  const usage = 'usage: node bench/live_bench.mjs [--rounds N] [--questions N] [--readers N] [--tutti PATH] [--fake PATH] [--chromium PATH]';
  for (let i = 0; i < argv.length; ++i) {
    const key = argv[i];
    const value = argv[i + 1];
    if (key === '--help' || key === '-h') {
      console.log(usage);
      process.exit(0);
    }
    if (value === undefined) throw new Error(`${key}: needs a value\n${usage}`);
    ++i;
    if (key === '--rounds' || key === '--questions' || key === '--readers') {
      const n = Number(value);
      const most = key === '--readers' ? 32 : 1000;
      if (!Number.isInteger(n) || n < 1 || n > most) throw new Error(`${key}: expected 1 to ${most}, got '${value}'`);
      opts[key.slice(2)] = n;
    } else if (key === '--tutti' || key === '--fake' || key === '--chromium') {
      opts[key.slice(2)] = value;
    } else {
      throw new Error(`unknown option ${key}\n${usage}`);
    }
  }
  return opts;
}

const f0 = (x) => (Number.isNaN(x) || x === undefined ? '-' : x.toFixed(0));
const f2 = (x) => (Number.isNaN(x) || x === undefined ? '-' : x.toFixed(2));

function table(header, rows) {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  process.env.TUTTI_BIN = opts.tutti;
  process.env.TUTTI_FAKE_LLM_BIN = opts.fake;
  const { startListening, startServe, stopChild } = await import('../tests/node/serve_fixture.mjs');
  const require = createRequire(join(root, 'tests/browser/package.json'));
  const { chromium } = require('playwright-core');

  const children = [];
  let browser = null;
  let failed = false;
  try {
    // A request thread per upstream call in flight: 4 members a question.
    const fake = await startListening(opts.fake,
      ['--script', join(benchDir, 'live_bench_upstream.yaml'), '--port', '0',
        '--threads', String(opts.questions * 4 + 32)],
      {}, 'tutti-fake-llm listening on');
    children.push(fake.child);
    const serve = await startServe(`${fake.url}/v1`, { config: join(benchDir, 'live_bench.yaml') });
    children.push(serve.child);
    browser = await chromium.launch({ executablePath: opts.chromium, args: ['--no-sandbox'] });

    let chromiumVersion = '';
    try {
      chromiumVersion = browser.version();
    } catch { /* the version is only for the report */ }
    console.log(`live_bench: ${new Date().toISOString()}, ${cpus().length} cores (${cpus()[0]?.model}), load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
    console.log(`node ${process.version}, chromium ${chromiumVersion}, clock ${clockTicks} ticks/s; ${opts.questions} streamed questions of ${ensemble} at once (3 members x ~40 tokens at 50/s, 1 failing), ${opts.rounds} rounds`);
    console.log(`tutti ${opts.tutti} (serve pid ${serve.child.pid}), store: none`);

    const ctx = {
      url: serve.url, servePid: serve.child.pid, browser, questions: opts.questions, readers: opts.readers,
      notBrowser: new Set([fake.child.pid, serve.child.pid]),
    };
    // Warm-up: connections, the page's code in chromium's cache.
    const warm = await burst({ ...ctx, questions: Math.min(10, opts.questions) }, 'page', -1);
    if (warm.problems.length > 0) throw new Error(`warm-up: ${warm.problems.join('; ')}`);

    // The server's own CPU with nothing asked, as a floor for the noise.
    const idle0 = cpuMs(serve.child.pid);
    await sleep(2000);
    const idleMs = (cpuMs(serve.child.pid) - idle0) / 2;
    console.log(`serve idle: ${f0(idleMs)} ms CPU a second`);

    const results = [];
    const header = ['round', 'condition', 'load', 'server CPU', 'p50', 'p95', 'max', 'TTFB p50', 'events', 'page done', 'long tasks', 'longest', 'beat late', 'caught up', 'chromium CPU', 'renderers'];
    const rows = [];
    for (let r = 0; r < opts.rounds; ++r) {
      const order = [...conditions.slice(r % 3), ...conditions.slice(0, r % 3)];
      for (const condition of order) {
        const res = await burst(ctx, condition, r);
        results.push(res);
        const row = [r + 1, condition, f2(res.load), f0(res.cpuMs), f0(res.p50), f0(res.p95), f0(res.max), f0(res.ttfb50),
          res.events ?? '-', res.pageDone ?? '-', f0(res.longTaskMs), f0(res.longTaskMaxMs), f0(res.maxLateMs),
          f0(res.pageCaughtUpMs), f0(res.browserCpuMs), f0(res.rendererCpuMs)];
        rows.push(row);
        console.log(header.map((h, i) => `${h} ${row[i]}`).join(', '));
        for (const p of res.problems) console.log(`  FAILED: ${p}`);
        if (res.problems.length > 0) failed = true;
        if (condition === 'page') {
          for (const [name, probe] of [['#/live', res.listProbe], ['#/live/RUN', res.questionProbe]]) {
            console.log(`  ${name}: long tasks [start, ms] ${JSON.stringify(probe.tasks)}, heartbeat ${probe.beats} beats, latest ${f0(probe.maxLateMs)} ms late`);
          }
        }
        if (res.eventCounts && r === 0) console.log(`  reader events: ${JSON.stringify(res.eventCounts)}, ${res.eventBytes} bytes`);
      }
    }

    console.log('\nevery round (ms; load: the 1-minute load average)');
    table(header, rows);
    const by = (c) => results.filter((x) => x.condition === c);
    const med = (c, k) => median(by(c).map((x) => x[k]));
    console.log(`\nmedians over ${opts.rounds} rounds (ms; CPU is the serve process's utime+stime over the burst and ${tailMs} ms after)`);
    table(['condition', 'server CPU', 'p50', 'p95', 'max', 'TTFB p50', 'TTFB p95', 'events', 'long tasks', 'longest', 'beat late', 'caught up', 'chromium CPU', 'renderers'],
      conditions.map((c) => [c, f0(med(c, 'cpuMs')), f0(med(c, 'p50')), f0(med(c, 'p95')), f0(med(c, 'max')),
        f0(med(c, 'ttfb50')), f0(med(c, 'ttfb95')), c === 'reader' ? f0(med(c, 'events')) : '-',
        c === 'page' ? f0(med(c, 'longTaskMs')) : '-', c === 'page' ? f0(med(c, 'longTaskMaxMs')) : '-',
        c === 'page' ? f0(med(c, 'maxLateMs')) : '-', c === 'page' ? f0(med(c, 'pageCaughtUpMs')) : '-',
        c === 'page' ? f0(med(c, 'browserCpuMs')) : '-', c === 'page' ? f0(med(c, 'rendererCpuMs')) : '-']));
    console.log('\nratios against closed (medians)');
    table(['condition', 'server CPU', 'p50', 'p95'],
      ['reader', 'page'].map((c) => [`${c}/closed`, f2(med(c, 'cpuMs') / med('closed', 'cpuMs')),
        f2(med(c, 'p50') / med('closed', 'p50')), f2(med(c, 'p95') / med('closed', 'p95'))]));
    const perEvent = (med('reader', 'cpuMs') - med('closed', 'cpuMs')) / med('reader', 'events');
    console.log(`\nreader (${opts.readers} at once): ${f0(med('reader', 'events'))} events a burst in all; (reader - closed) server CPU per event ${(perEvent * 1000).toFixed(1)} us`);
    console.log(`load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  } catch (e) {
    console.error(`live_bench: FAILED: ${e?.stack ?? e}`);
    failed = true;
  } finally {
    await browser?.close().catch(() => {});
    await Promise.all(children.reverse().map(stopChild));
  }
  if (failed) {
    console.error('live_bench: FAILED (see above)');
    process.exit(1);
  }
}

// Last, once every constant above is set: the main thread runs the bench,
// a worker thread is the reader.
if (isMainThread) {
  await main();
} else {
  await readerThread(workerData);
}
