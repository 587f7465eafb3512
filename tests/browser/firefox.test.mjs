// The dashboard in Firefox: Debian's firefox-esr, driven by puppeteer-core
// over WebDriver BiDi (playwright-core drives only its own patched Firefox
// builds), against `tutti serve --store ...` (loopback, no token) and the
// fake upstream, on live.test.mjs's config (live.yaml, live_upstream.yaml).
// A streamed ensemble question asked through the API appears in Live, its
// members in columns, the failing member with its kind, then the vote
// table; the stored run and History show it with its cost; the playground
// asks an ensemble composed on the page; a batch started on the page, then
// Stats (light and dark), Providers and Pipelines; the key form of a server
// with a token. No page errors on the way.
// Screenshots (dashboard-firefox-*.png) go to $TUTTI_SCREENSHOT_DIR.
//
// Elements are found by CSS selectors and code run in the page, nothing
// that depends on what a protocol offers beyond BiDi's basics.

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import puppeteer from 'puppeteer-core';
import { startFixture } from '../node/serve_fixture.mjs';
import { usd } from '../../dashboard/src/format.js';
import { keptByThePage } from './page_checks.mjs';

const browserTests = new URL('.', import.meta.url).pathname;
const shots = process.env.TUTTI_SCREENSHOT_DIR ?? tmpdir();
const wait = { timeout: 15_000 };

let fixture;
let dir;
let browser;

/// Debian's Firefox with a fresh profile and home under the test's
/// directory, the page's colour scheme forced to `scheme` ('light' or
/// 'dark': WebDriver BiDi cannot emulate it per page).
async function launchFirefox(scheme) {
  // Firefox gets a fresh, empty profile per run and a home of its own,
  // both in the test's temporary directory (removed with it). Into the
  // profile puppeteer writes its automation preferences (no updates, no
  // telemetry, every service URL on a dummy local address, so Firefox
  // makes no outside connections). The home: even with a profile given,
  // Firefox writes $HOME/.config/mozilla (crash reports, pings),
  // $HOME/.cache/mozilla and $HOME/Downloads, which must not land in the
  // user's home, nor fail where HOME is unwritable (CI). As root it needs
  // nothing more: unlike chromium it has no --no-sandbox to be given, and
  // it sandboxes its content processes as far as the kernel lets it
  // instead of refusing to start. --no-remote: it never hands the run
  // to another Firefox open on the machine. MOZ_CRASHREPORTER_DISABLE: a
  // crash fails the test instead of starting a reporter.
  const home = join(dir, `home-${scheme}`);
  const profile = join(dir, `profile-${scheme}`);
  mkdirSync(home);
  mkdirSync(profile);
  return puppeteer.launch({
    browser: 'firefox',
    protocol: 'webDriverBiDi',
    executablePath: process.env.TUTTI_FIREFOX ?? '/usr/bin/firefox-esr',
    headless: true,
    userDataDir: profile,
    args: ['--no-remote'],
    env: {
      ...process.env,
      HOME: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      XDG_CACHE_HOME: join(home, '.cache'),
      MOZ_CRASHREPORTER_DISABLE: '1',
    },
    extraPrefsFirefox: {
      // The colour scheme, whatever the system's (0: dark, 1: light).
      'layout.css.prefers-color-scheme.content-override': scheme === 'dark' ? 0 : 1,
    },
    defaultViewport: { width: 1366, height: 860 },
    timeout: 30_000,
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tutti-firefox-'));
  fixture = await startFixture({
    script: join(browserTests, 'live_upstream.yaml'),
    config: join(browserTests, 'live.yaml'),
    serveArgs: ['--store', join(dir, 'runs.db')],
  });
  browser = await launchFirefox('light');
});

after(async () => {
  await browser?.close();
  await fixture?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/// A page at `path` that records its errors: uncaught exceptions and
/// console.error, each with where it came from.
async function openPage(path, on = browser) {
  const page = await on.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message ?? e}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  await page.goto(`${fixture.url}${path}`, wait);
  return { page, problems };
}

async function shoot(page, name) {
  await page.screenshot({ path: join(shots, `dashboard-firefox-${name}.png`), fullPage: true });
}

/// Waits until an element matching `selector` has text matching `pattern`;
/// resolves to that text.
async function waitForText(page, selector, pattern) {
  const handle = await page.waitForFunction((sel, source, flags) => {
    const re = new RegExp(source, flags);
    return [...document.querySelectorAll(sel)].map((e) => e.innerText).find((t) => re.test(t));
  }, wait, selector, pattern.source, pattern.flags);
  return handle.jsonValue();
}

const innerText = (page, selector) => page.$eval(selector, (e) => e.innerText);

/// The stored run `run` (GET /v1/runs/RUN), once the store has it.
async function storedRun(run) {
  const until = Date.now() + 10_000;
  for (;;) {
    const body = await (await fetch(`${fixture.url}/v1/runs/${encodeURIComponent(run)}`)).json();
    if (body.object === 'tutti.run' || Date.now() > until) return body;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

test('Firefox: a streamed ensemble in Live, member by member, then in History', async () => {
  const { page, problems } = await openPage('/#/live');
  await waitForText(page, '[role="status"]', /^connected$/);

  // Asked by a client, streamed; read to its end in the background.
  const asked = fetch(`${fixture.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      model: 'ensemble/trio', stream: true,
      messages: [{ role: 'user', content: 'What is the capital of France?' }],
    }),
  }).then(async (res) => ({ run: res.headers.get('x-tutti-run-id'), body: await res.text() }));

  // It is in the list while it runs; opened from there with the keyboard.
  const row = await waitForText(page, 'table.live-list tbody tr', /trio/);
  assert.match(row, /chat_completions/);
  const listed = await page.$eval('table.live-list tbody tr[data-run]', (tr) => tr.dataset.run);
  await shoot(page, 'live-list');
  await page.focus(`tr[data-run="${listed}"] a`);
  await page.keyboard.press('Enter');

  // Its members in columns; the slow one's fills while it streams.
  await page.waitForSelector('article[data-member="slow"] [data-state="streaming"]', wait);
  const members = await page.$$eval('article.member', (as) => as.map((a) => a.getAttribute('aria-label')));
  assert.deepEqual(members.sort(), ['member broken', 'member quick', 'member slow']);
  const partial = await innerText(page, 'article[data-member="slow"] pre.text');
  assert.ok(partial.length > 0 && !partial.endsWith('river.'), `part of the reply: "${partial}"`);
  await shoot(page, 'live-streaming');

  // The failing member shows its kind and the vendor's message.
  await page.waitForSelector('article[data-member="broken"] [data-state="failed"]', wait);
  const broken = await innerText(page, 'article[data-member="broken"]');
  assert.match(broken, /\bserver\b/);
  assert.match(broken, /The server had an error/);

  // The answer, with its vote table, once every member is done.
  await page.waitForSelector('table.votes', wait);
  const votes = await innerText(page, 'table.votes');
  assert.match(votes, /quick/);
  assert.match(votes, /slow/);
  assert.equal(await innerText(page, 'article[data-member="slow"] pre.text'),
    'Paris is the capital of France, on the Seine river.');
  assert.match(await innerText(page, '.view-head'), /partial/);
  assert.equal(await page.$$eval('.timeline svg g', (gs) => gs.length), 3);
  await shoot(page, 'live-done');

  const { run, body } = await asked;
  assert.equal(run, listed, 'the list showed the question asked');
  assert.ok(body.includes('[DONE]'));
  assert.ok(page.url().endsWith(`#/live/${run}`), page.url());

  // The stored run opens from there, with its cost; History lists it.
  const stored = await storedRun(run);
  assert.equal(stored.object, 'tutti.run', 'the store has it');
  await page.click(`main a[href="#/runs/${encodeURIComponent(run)}"]`);
  await waitForText(page, 'h2', /^Members$/);
  assert.ok((await innerText(page, '.summary')).includes(usd(stored.cost_usd)));
  await page.click('nav a[href="#/runs"]');
  await page.waitForSelector(`table.runs tbody a[href="#/runs/${encodeURIComponent(run)}"]`, wait);
  const cost = await page.$eval(`table.runs tbody a[href="#/runs/${encodeURIComponent(run)}"]`,
    (a) => a.closest('tr').querySelector('td.cost').innerText);
  assert.equal(cost, usd(stored.cost_usd));
  assert.match(await innerText(page, 'table.runs tbody'), /trio/);
  await shoot(page, 'history');

  assert.deepEqual(problems, []);
  await page.close();
});

test('Firefox: the playground asks an ensemble composed on the page', async () => {
  const { page, problems } = await openPage('/#/playground');
  await page.waitForSelector('select[name="target"]', wait);
  await page.select('select[name="target"]', 'compose');
  assert.equal(await page.$eval('select[name="target"] option:checked', (o) => o.textContent),
    'An ensemble composed here…');

  // Members: quick and slow, not broken.
  await page.waitForSelector('input[name="member"]', wait);
  for (const [name, wanted] of [['broken', false], ['quick', true], ['slow', true]]) {
    const box = `input[name="member"][value="${name}"]`;
    if ((await page.$eval(box, (b) => b.checked)) !== wanted) await page.click(box);
    assert.equal(await page.$eval(box, (b) => b.checked), wanted, name);
  }
  await page.select('select[name="combine"]', 'first');
  await page.type('textarea[name="question"]', 'What is the capital of France?');
  await page.click('form.playground button[type="submit"]');

  // `first`: the quick member's reply is the answer, streamed here.
  await waitForText(page, 'pre.answer', /^Paris is the capital of France\.$/);
  await page.waitForSelector('main a[href^="#/runs/"]', wait);
  const href = await page.$eval('main a[href^="#/runs/"]', (a) => a.getAttribute('href'));
  const run = decodeURIComponent(href.replace('#/runs/', ''));
  // The composed ensemble's members stream below it.
  await page.waitForSelector('article[data-member="quick"]', wait);
  await page.waitForSelector('article[data-member="slow"]', wait);
  assert.equal(await page.$('article[data-member="broken"]'), null);
  await shoot(page, 'playground');

  // The server ran what the page composed.
  const stored = await storedRun(run);
  assert.equal(stored.object, 'tutti.run');
  assert.equal(stored.target, 'playground');
  assert.equal(stored.combine, 'first');
  assert.deepEqual(stored.calls.filter((c) => (c.role ?? 'member') === 'member').map((c) => c.provider).sort(),
    ['quick', 'slow']);
  assert.deepEqual(problems, []);
  await page.close();
});

test('Firefox: a batch started on the page, then Stats, Providers and Pipelines', async () => {
  const { page, problems } = await openPage('/#/batches');
  await page.waitForSelector('textarea[name="rows"]', wait);
  await page.type('textarea[name="rows"]', [
    '{"id": "fr", "question": "Capital of France?"}',
    '{"id": "bad", "topic": "no question here"}',
  ].join('\n'));
  await page.click('form.playground button[type="submit"]');
  await waitForText(page, '.view-head .badge', /^completed$/);
  assert.match(page.url(), /#\/batches\/batch_/);
  assert.match(await innerText(page, '.progress'), /2\/2 \(100%\)/);
  assert.equal(await innerText(page, 'dd.failed-count'), '1');
  const failed = await page.$$eval('table.failed-rows tbody tr', (trs) => trs.map((tr) => tr.innerText));
  assert.equal(failed.length, 1);
  assert.match(failed[0], /2\s+"bad"\s+bad_input/);
  await shoot(page, 'batch');

  // Stats: the spend of every run so far, with its charts drawn.
  const runs = (await (await fetch(`${fixture.url}/v1/runs?limit=1000`)).json()).data;
  const spent = runs.reduce((sum, r) => sum + r.cost_usd, 0);
  assert.ok(spent > 0);
  await page.goto(`${fixture.url}/#/stats`, wait);
  await page.waitForSelector('figure[aria-labelledby="chart-spend-provider"] svg rect.bar', wait);
  assert.match(await innerText(page, '.stats-total'), new RegExp(`${usd(spent).replace('$', '\\$')} spent`));
  await page.waitForSelector('figure[aria-labelledby="chart-latency"] svg rect.bar', wait);
  const agreed = await page.$eval('figure[aria-labelledby="chart-agreement"] table',
    (t) => t.textContent);
  assert.match(agreed, /quick\s*100%/);
  await shoot(page, 'stats');
  // The dark scheme, when the system asks for it: another Firefox, since
  // WebDriver BiDi cannot emulate the scheme per page.
  const light = await page.$eval('body', (b) => getComputedStyle(b).backgroundColor);
  const darkFirefox = await launchFirefox('dark');
  try {
    const dark = await openPage('/#/stats', darkFirefox);
    await dark.page.waitForSelector('figure[aria-labelledby="chart-spend-provider"] svg rect.bar', wait);
    const background = await dark.page.$eval('body', (b) => getComputedStyle(b).backgroundColor);
    assert.notEqual(background, light, 'the dark scheme has its own colours');
    await shoot(dark.page, 'stats-dark');
    assert.deepEqual(dark.problems, []);
  } finally {
    await darkFirefox.close();
  }

  // Providers: each configured one, with its breaker's state.
  await page.click('nav a[href="#/providers"]');
  const providers = (await (await fetch(`${fixture.url}/v1/providers`)).json()).data;
  assert.deepEqual(providers.map((p) => p.name).sort(), ['broken', 'quick', 'slow']);
  for (const p of providers) {
    const row = await waitForText(page, `tr[data-provider="${p.name}"]`, /./);
    assert.match(row, new RegExp(p.breaker.state.replace('_', ' ')));
  }
  await shoot(page, 'providers');

  // Pipelines: the configured one's graph, with the batch among its runs.
  await page.click('nav a[href="#/pipelines"]');
  await page.waitForSelector('g.node[data-step="reply"]', wait);
  assert.equal(await page.$$eval('g.node', (gs) => gs.length), 1);
  // The batch's row that ran is among its recent runs (asked for by
  // target_kind=pipeline, so no other kind of target of that name shows).
  await page.waitForSelector('table.pipeline-runs tbody a[href^="#/runs/"]', wait);
  await shoot(page, 'pipelines');
  assert.deepEqual(problems, []);
  await page.close();
});

test('Firefox: a server with a token asks for the key, refuses a wrong one, keeps it nowhere', async () => {
  const token = 'firefox-t0ken-not-in-the-page';
  const url = await fixture.serve(['--token', token, '--store', join(dir, 'keyed.db')]);
  const page = await browser.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message ?? e}`));
  await page.goto(`${url}/#/runs`, wait);

  // Without a key the API answers 401 and the page asks, the field focused.
  await page.waitForSelector('form.key-form input[name="tutti-key"]', wait);
  assert.ok(await page.$eval('input[name="tutti-key"]', (el) => el === document.activeElement),
    'the key field has the focus');
  await shoot(page, 'key');

  // A wrong key is refused, and the form asks again.
  await page.type('input[name="tutti-key"]', 'not-the-token');
  await page.keyboard.press('Enter');
  await waitForText(page, 'form.key-form p', /^That key was refused/);

  // The right one, sent with Enter: History (empty on this server).
  await page.type('input[name="tutti-key"]', token);
  await page.keyboard.press('Enter');
  await waitForText(page, 'main', /No runs/);
  assert.equal(await page.$('form.key-form'), null);

  // The key is in no address, storage or cookie.
  const kept = await page.evaluate(keptByThePage);
  assert.ok(!kept.includes(token), `the key leaked: ${kept}`);
  assert.deepEqual(problems, []);
  await page.close();
});
