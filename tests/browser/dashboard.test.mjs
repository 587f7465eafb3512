// The dashboard in a real browser: Debian's chromium, driven by
// playwright-core, against `tutti serve --token ... --store ...` and the
// fake upstream (tests/node/serve_fixture.mjs). One ensemble question is
// asked through the API first, so the store has a run to show. Screenshots
// of each view, light and dark, go to $TUTTI_SCREENSHOT_DIR (the best are
// copied by hand into docs/images/dashboard-*.png). Then the Stats,
// Providers and Pipelines views, and a pipeline run watched step by step.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { here as nodeTests, startFixture } from '../node/serve_fixture.mjs';
import { layout, MAX_STEPS } from '../../dashboard/src/dag_layout.js';
import { usd } from '../../dashboard/src/format.js';
import { keptByThePage } from './page_checks.mjs';

const browserTests = new URL('.', import.meta.url).pathname;
const token = 'dashboard-t0ken-not-in-the-page';
const shots = process.env.TUTTI_SCREENSHOT_DIR ?? tmpdir();
const wait = { timeout: 10_000 };

let fixture;
let dir;
let browser;
let runId;
let runCost;

/// GET or POST on the API with the token; resolves to the JSON body.
async function api(path, body) {
  const res = await fetch(`${fixture.url}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.equal(res.status, 200, `${path}: ${res.status} ${await res.clone().text()}`);
  return res.json();
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tutti-dashboard-'));
  fixture = await startFixture({
    script: join(nodeTests, 'upstream.yaml'),
    config: join(browserTests, 'tutti.yaml'),
    serveArgs: ['--token', token, '--store', join(dir, 'runs.db')],
  });
  // Three questions, so History has rows to show: the newest is the
  // ensemble's, which the test opens.
  const questions = [
    ['ensemble/trio', 'What is the capital of France?'],
    ['paris', 'Name the capital of France in one word.'],
    ['ensemble/trio', 'Which city is the capital of France?'],
  ];
  for (const [model, content] of questions) {
    await api('/v1/chat/completions', { model, messages: [{ role: 'user', content }] });
  }
  // The store writes behind the answer: wait (boundedly) for the runs.
  const until = Date.now() + 10_000;
  let page;
  do {
    page = await api('/v1/runs');
    if (page.data.length >= questions.length) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  } while (Date.now() < until);
  assert.equal(page.data.length, questions.length, 'the questions are in the store');
  assert.equal(page.data[0].target, 'trio');
  runId = page.data[0].id;
  runCost = page.data[0].cost_usd;
  assert.ok(runCost > 0, 'the priced members cost something');
  browser = await chromium.launch({
    executablePath: process.env.TUTTI_CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox'], // root in CI; the page is our own
  });
});

after(async () => {
  await browser?.close();
  await fixture?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the dashboard asks for the key, shows the history and opens a run', async () => {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(m.text());
  });
  const statuses = [];
  const sentKeys = [];
  page.on('response', (r) => {
    if (new URL(r.url()).pathname.startsWith('/v1/')) statuses.push(r.status());
  });
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.startsWith('/v1/')) sentKeys.push(r.headers().authorization ?? '');
  });

  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto(`${fixture.url}/`, wait);

  // Without the key the API answers 401, and the page asks for it.
  const keyInput = page.getByLabel('Token or API key');
  await keyInput.waitFor(wait);
  assert.ok(statuses.includes(401), `a 401 came first: ${statuses}`);
  assert.ok(await keyInput.evaluate((el) => el === document.activeElement), 'the key field has the focus');
  await page.screenshot({ path: join(shots, 'dashboard-key-light.png') });

  // Typed and sent with Enter, as a keyboard user would.
  await keyInput.fill(token);
  await keyInput.press('Enter');
  const row = page.locator('table.runs tbody tr').first();
  await row.waitFor(wait);
  assert.equal(await page.locator('table.runs tbody tr').count(), 3);
  assert.match(await row.innerText(), /trio/);
  assert.equal(await row.locator('td.cost').innerText(), usd(runCost));
  assert.ok(sentKeys.includes(`Bearer ${token}`), 'the API calls carry the key');

  // The key is in no address, storage or cookie.
  const kept = await page.evaluate(keptByThePage);
  assert.ok(!kept.includes(token), `the key leaked: ${kept}`);
  assert.equal((await context.cookies()).length, 0);

  // Filters: a time range after every run shows none, a session no run has
  // neither; Clear shows them all again.
  await page.getByLabel('From').fill('2999-01-01T00:00');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByText('No runs match these filters.').waitFor(wait);
  await page.getByRole('button', { name: 'Clear' }).click();
  await row.waitFor(wait);
  await page.getByLabel('Session').fill('no-such-conversation');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByText('No runs match these filters.').waitFor(wait);
  await page.getByRole('button', { name: 'Clear' }).click();
  await row.waitFor(wait);
  assert.equal(await page.locator('table.runs tbody tr').count(), 3);
  await page.screenshot({ path: join(shots, 'dashboard-history-light.png') });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: join(shots, 'dashboard-history-dark.png') });
  await page.emulateMedia({ colorScheme: 'light' });

  // The run opens from the keyboard: its link, then Enter.
  await row.getByRole('link').focus();
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Members' }).waitFor(wait);
  assert.ok(page.url().endsWith(`#/runs/${runId}`), page.url());
  for (const member of ['paris', 'seine', 'broken']) {
    await page.getByRole('article', { name: `member ${member}` }).waitFor(wait);
  }
  const broken = await page.getByRole('article', { name: 'member broken' }).innerText();
  assert.match(broken, /server/);
  assert.match(broken, /The server had an error/);
  const paris = await page.getByRole('article', { name: 'member paris' }).innerText();
  assert.match(paris, /Paris is the capital of France\./);
  assert.match(paris, /paris-model/);
  assert.match(await page.locator('pre.answer').innerText(), /Paris is the capital of France\./);
  // The stored run kept its vote table (runs.verdict): both voters for Paris.
  const votes = await page.getByRole('heading', { name: 'Votes' });
  await votes.waitFor(wait);
  assert.match(await page.locator('table.votes').innerText(), /paris[\s\S]*seine/);
  assert.match(await page.locator('pre.text').first().innerText(), /Which city is the capital of France\?/);
  assert.match(await page.locator('.summary').innerText(), new RegExp(usd(runCost).replace('$', '\\$')));
  await page.screenshot({ path: join(shots, 'dashboard-run-light.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: join(shots, 'dashboard-run-dark.png'), fullPage: true });

  const after = await page.evaluate(() => location.href + JSON.stringify({ ...localStorage }) + document.cookie);
  assert.ok(!after.includes(token));
  assert.deepEqual(problems, []);
  await context.close();
});

test('a wrong key is refused and the form asks again', async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${fixture.url}/`, wait);
  const keyInput = page.getByLabel('Token or API key');
  await keyInput.waitFor(wait);
  await keyInput.fill('not-the-token');
  await keyInput.press('Enter');
  await page.getByText('That key was refused').waitFor(wait);
  await context.close();
});

test('without a token the page needs no key and shows a run still held in memory', async () => {
  // A second server on the same store and upstream, loopback and tokenless.
  const url = await fixture.serve(['--store', join(dir, 'runs.db')]);
  const started = await fetch(`${url}/v1/runs`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ensemble: 'trio', prompt: 'Capital of France?' }),
  });
  assert.equal(started.status, 202);
  const { id } = await started.json();
  const until = Date.now() + 10_000;
  let run;
  do {
    run = await (await fetch(`${url}/v1/runs/${id}`)).json();
    if (run.status !== 'running') break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  } while (Date.now() < until);
  assert.equal(run.object, 'run', 'the server still holds the run (its own shape)');
  assert.equal(run.status, 'partial');

  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${url}/#/runs/${id}`, wait);
  await page.getByRole('heading', { name: 'Members' }).waitFor(wait);
  for (const member of ['paris', 'seine', 'broken']) {
    await page.getByRole('article', { name: `member ${member}` }).waitFor(wait);
  }
  assert.match(await page.getByRole('article', { name: 'member broken' }).innerText(),
    /The server had an error/);
  assert.match(await page.locator('.summary').innerText(), new RegExp(usd(run.answer.cost_usd).replace('$', '\\$')));
  assert.equal(await page.getByLabel('Token or API key').count(), 0);
  // Back to History by its link, from the keyboard.
  await page.getByRole('link', { name: '← History' }).focus();
  await page.keyboard.press('Enter');
  await page.locator('table.runs tbody tr').first().waitFor(wait);
  await context.close();
});

test('the pipeline graph is laid out in layers, bounded, without recursion', () => {
  const diamond = layout([
    { id: 'draft', needs: [] },
    { id: 'final', needs: ['check', 'poll'] },
    { id: 'check', needs: ['draft'] },
    { id: 'poll', needs: ['draft', 'draft', 'nowhere', 'poll'] },
  ]);
  assert.deepEqual(diamond.nodes.map((n) => [n.id, n.col, n.row]),
    [['draft', 0, 0], ['final', 2, 0], ['check', 1, 0], ['poll', 1, 1]]);
  assert.equal(diamond.edges.length, 4);
  assert.equal(diamond.columns, 3);
  assert.equal(diamond.rows, 2);
  // A chain far longer than is drawn: the first MAX_STEPS, one per column.
  const chain = Array.from({ length: 20_000 }, (_, i) => ({ id: `s${i}`, needs: i ? [`s${i - 1}`] : [] }));
  const long = layout(chain);
  assert.equal(long.nodes.length, MAX_STEPS);
  assert.equal(long.columns, MAX_STEPS);
  assert.equal(long.dropped, 20_000 - MAX_STEPS);
  // A cycle (the server refuses one, but the page does not trust it) and junk.
  const odd = layout([{ id: 'a', needs: ['b'] }, { id: 'b', needs: ['a'] }, null, { id: 'c', needs: 'a' }]);
  assert.deepEqual(odd.nodes.map((n) => [n.id, n.col]), [['a', 1], ['b', 1], ['c', 0]]);
  assert.deepEqual(layout(undefined).nodes, []);
});

test('the stats, providers and pipelines views, and a pipeline run watched step by step', async () => {
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 401/.test(m.text())) problems.push(m.text());
  });
  let providersAsked = 0;
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/v1/providers') providersAsked += 1;
  });
  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto(`${fixture.url}/#/stats`, wait);
  const keyInput = page.getByLabel('Token or API key');
  await keyInput.waitFor(wait);
  await keyInput.fill(token);
  await keyInput.press('Enter');

  // Stats: the spend of the runs made above, per provider and day.
  const runs = (await api('/v1/runs?limit=1000')).data;
  const spent = runs.reduce((sum, r) => sum + r.cost_usd, 0);
  assert.ok(spent > 0);
  const spend = page.getByRole('figure', { name: 'Spend per day by provider' });
  await spend.locator('svg rect.bar').first().waitFor(wait);
  assert.match(await page.locator('.stats-total').innerText(), new RegExp(`${usd(spent).replace('$', '\\$')} spent`));
  const numbers = await spend.locator('table').evaluate((t) => t.textContent);
  assert.match(numbers, /paris[\s\S]*seine/);
  await page.getByRole('figure', { name: 'Latency per provider' }).locator('svg rect.bar').first().waitFor(wait);
  await page.getByRole('figure', { name: 'Failure rate per day by kind' }).locator('svg rect.bar').first().waitFor(wait);
  // Which members pull their weight: in the trio's votes paris and seine
  // always gave the answer chosen (broken failed: nothing to compare).
  const agreed = page.getByRole('figure', { name: "How often each member agreed with the ensemble's answer" });
  await agreed.locator('svg rect.bar').first().waitFor(wait);
  const agreedNumbers = await agreed.locator('table').evaluate((t) => t.textContent);
  assert.match(agreedNumbers, /paris\s*100%/);
  assert.match(agreedNumbers, /seine\s*100%/);
  assert.doesNotMatch(agreedNumbers, /broken/);
  await page.screenshot({ path: join(shots, 'dashboard-stats-light.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: join(shots, 'dashboard-stats-dark.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });
  await page.getByRole('button', { name: '30 days' }).click();
  await page.getByText('In the last 30 days').waitFor(wait);
  assert.match(await page.locator('.stats-total').innerText(), new RegExp(`${usd(spent).replace('$', '\\$')} spent`));

  // Providers: each configured one with its breaker's state, from the keyboard.
  await page.getByRole('link', { name: 'Providers' }).focus();
  await page.keyboard.press('Enter');
  const { data: providers } = await api('/v1/providers');
  assert.deepEqual(providers.map((p) => p.name).sort(), ['broken', 'paris', 'seine']);
  for (const p of providers) {
    const row = page.locator(`tr[data-provider="${p.name}"]`);
    await row.waitFor(wait);
    assert.match(await row.innerText(), new RegExp(p.breaker.state.replace('_', ' ')));
  }
  await page.getByRole('heading', { name: 'Recent failures' }).waitFor(wait);
  await page.screenshot({ path: join(shots, 'dashboard-providers-light.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: join(shots, 'dashboard-providers-dark.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });

  // Pipelines: the configured one's graph, a box per step, an arrow per need.
  // Leaving Providers stops its polling.
  await page.getByRole('link', { name: 'Pipelines', exact: true }).click();
  await page.locator('g.node[data-step="final"]').waitFor(wait);
  const providersAskedThen = providersAsked;
  assert.equal(await page.locator('g.node').count(), 4);
  assert.equal(await page.locator('path.edge').count(), 4);
  await page.screenshot({ path: join(shots, 'dashboard-pipelines-light.png'), fullPage: true });

  // A run started by POST /v1/runs, watched: every step ends done.
  const started = await fetch(`${fixture.url}/v1/runs`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ pipeline: 'review', inputs: { question: 'What is the capital of France?' } }),
  });
  assert.equal(started.status, 202);
  const { id } = await started.json();
  await page.goto(`${fixture.url}/#/pipelines/run/${id}`, wait);
  await page.waitForFunction(() => document.querySelectorAll('g.node[data-state="done"]').length === 4, null, wait);
  await page.locator('pre.answer').waitFor(wait);
  assert.match(await page.locator('pre.answer').innerText(), /Paris is the capital of France\./);
  await page.screenshot({ path: join(shots, 'dashboard-pipeline-run-light.png'), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: join(shots, 'dashboard-pipeline-run-dark.png'), fullPage: true });

  // Once stored, the run is among the pipeline's recent runs.
  const until = Date.now() + 10_000;
  while (!(await api('/v1/runs?target=review')).data.some((r) => r.id === id) && Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await page.getByRole('link', { name: '← Pipelines' }).click();
  await page.locator(`table.pipeline-runs a[href="#/runs/${id}"]`).waitFor(wait);
  assert.equal(providersAsked, providersAskedThen, 'no polling once Providers is closed');
  assert.deepEqual(problems, []);
  await context.close();
});
