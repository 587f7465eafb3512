// The dashboard's Live view and playground in a real browser: Debian's
// chromium, driven by playwright-core, against `tutti serve --store ...`
// (loopback, no token) and the fake upstream (live_upstream.yaml). A
// streamed ensemble question asked through the API appears live, its slow
// member's tokens arrive in its column while it streams, the failing
// member shows its kind, the answer comes with its vote table, and the run
// is then in History with its cost; the playground asks an ensemble
// composed on the page. Screenshots go to $TUTTI_SCREENSHOT_DIR.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { startFixture } from '../node/serve_fixture.mjs';
import { usd } from '../../dashboard/src/format.js';

const browserTests = new URL('.', import.meta.url).pathname;
const shots = process.env.TUTTI_SCREENSHOT_DIR ?? tmpdir();
const wait = { timeout: 15_000 };

let fixture;
let dir;
let browser;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tutti-live-'));
  fixture = await startFixture({
    script: join(browserTests, 'live_upstream.yaml'),
    config: join(browserTests, 'live.yaml'),
    serveArgs: ['--store', join(dir, 'runs.db')],
  });
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

/// A page that records its errors.
async function openPage(path) {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  await page.emulateMedia({ colorScheme: 'light' });
  await page.goto(`${fixture.url}${path}`, wait);
  return { context, page, problems };
}

/// Both colour schemes of the page as it is now.
async function shoot(page, name) {
  await page.screenshot({ path: join(shots, `dashboard-${name}-light.png`), fullPage: true });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: join(shots, `dashboard-${name}-dark.png`), fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });
}

test('a streamed ensemble appears live, member by member, then in History', async () => {
  const { context, page, problems } = await openPage('/#/live');
  await page.getByText('connected', { exact: true }).waitFor(wait);

  // Asked by a client, streamed; read to its end in the background.
  const asked = fetch(`${fixture.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      model: 'ensemble/trio', stream: true,
      messages: [{ role: 'user', content: 'What is the capital of France?' }],
    }),
  }).then(async (res) => ({ run: res.headers.get('x-tutti-run-id'), body: await res.text() }));

  const row = page.locator('table.live-list tbody tr', { hasText: 'trio' }).first();
  await row.waitFor(wait);
  assert.match(await row.innerText(), /chat_completions/);
  await shoot(page, 'live-list');
  await row.getByRole('link').focus();
  await page.keyboard.press('Enter');

  // The slow member's column fills while it streams.
  const slow = page.getByRole('article', { name: 'member slow' });
  await slow.locator('[data-state="streaming"]').waitFor(wait);
  const partial = await slow.locator('pre.text').innerText();
  assert.ok(partial.length > 0 && !partial.endsWith('river.'), `part of the reply: "${partial}"`);
  await shoot(page, 'live-streaming');

  // The failing member shows its kind and the vendor's message.
  const broken = page.getByRole('article', { name: 'member broken' });
  await broken.locator('[data-state="failed"]').waitFor(wait);
  assert.match(await broken.innerText(), /server/);
  assert.match(await broken.innerText(), /The server had an error/);

  // The answer, with its vote table, once every member is done.
  await page.locator('table.votes').waitFor(wait);
  assert.equal(await slow.locator('pre.text').innerText(),
    'Paris is the capital of France, on the Seine river.');
  assert.match(await page.locator('table.votes').innerText(), /quick/);
  assert.match(await page.locator('table.votes').innerText(), /slow/);
  assert.match(await page.locator('.view-head').innerText(), /partial/);
  assert.equal(await page.locator('.timeline svg g').count(), 3);
  await shoot(page, 'live-done');

  const { run, body } = await asked;
  assert.ok(run, 'the reply names its run');
  assert.ok(body.includes('[DONE]'));
  assert.ok(page.url().endsWith(`#/live/${run}`), page.url());

  // The run is then in History, with its cost.
  const stored = await (async () => {
    const until = Date.now() + 10_000;
    for (;;) {
      const res = await fetch(`${fixture.url}/v1/runs/${run}`);
      const body = await res.json();
      if (body.object === 'tutti.run' || Date.now() > until) return body;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  assert.equal(stored.object, 'tutti.run', 'the store has it');
  await page.getByRole('link', { name: 'Open the stored run' }).click();
  await page.getByRole('heading', { name: 'Members' }).waitFor(wait);
  assert.match(await page.locator('.summary').innerText(),
    new RegExp(usd(stored.cost_usd).replace('$', '\\$')));
  await page.getByRole('link', { name: 'History', exact: true }).click();
  const historyRow = page.locator('table.runs tbody tr', { hasText: 'trio' }).first();
  await historyRow.waitFor(wait);
  assert.equal(await historyRow.locator('td.cost').innerText(), usd(stored.cost_usd));
  assert.deepEqual(problems, []);
  await context.close();
});

test('the playground asks an ensemble composed on the page', async () => {
  const { context, page, problems } = await openPage('/#/playground');
  const target = page.getByLabel('Ask');
  await target.waitFor(wait);
  await target.selectOption('compose');
  // Members: quick and slow, not broken.
  const broken = page.getByRole('checkbox', { name: 'broken' });
  if (await broken.isChecked()) await broken.uncheck();
  for (const name of ['quick', 'slow']) {
    const box = page.getByRole('checkbox', { name });
    if (!(await box.isChecked())) await box.check();
  }
  await page.getByLabel('Combine').selectOption('first');
  await page.getByLabel('Question').fill('What is the capital of France?');
  await page.getByRole('button', { name: 'Ask' }).click();

  // `first`: the quick member's reply is the answer, streamed here.
  const answer = page.locator('pre.answer').first();
  await page.getByText('Paris is the capital of France.', { exact: true }).first().waitFor(wait);
  assert.match(await answer.innerText(), /^Paris is the capital of France\.$/);
  const link = page.getByRole('link', { name: 'the stored run' });
  await link.waitFor(wait);
  const run = decodeURIComponent((await link.getAttribute('href')).replace('#/runs/', ''));
  // The composed ensemble's members stream below it.
  await page.getByRole('article', { name: 'member quick' }).waitFor(wait);
  await page.getByRole('article', { name: 'member slow' }).waitFor(wait);
  await shoot(page, 'playground');

  // The server ran what the page composed.
  const until = Date.now() + 15_000;
  let stored;
  do {
    stored = await (await fetch(`${fixture.url}/v1/runs/${run}`)).json();
    if (stored.object === 'tutti.run') break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  } while (Date.now() < until);
  assert.equal(stored.object, 'tutti.run');
  assert.equal(stored.target, 'playground');
  assert.equal(stored.combine, 'first');
  assert.deepEqual(stored.calls.filter((c) => (c.role ?? 'member') === 'member').map((c) => c.provider).sort(),
    ['quick', 'slow']);
  assert.deepEqual(problems, []);
  await context.close();
});

test('a batch started on the page shows its progress and the rows that failed', async () => {
  const { context, page, problems } = await openPage('/#/batches');
  await page.getByLabel('Pipeline').waitFor(wait);
  await page.getByLabel(/^Rows, one JSON object per line/).fill([
    '{"id": "fr", "question": "Capital of France?"}',
    '{"id": "it", "question": "Capital of Italy?"}',
    '{"id": "bad", "topic": "no question here"}',
  ].join('\n'));
  await page.getByRole('button', { name: 'Start' }).click();
  await page.getByRole('heading', { name: /answer/ }).waitFor(wait);
  assert.match(page.url(), /#\/batches\/batch_/);
  await page.locator('.view-head .badge', { hasText: 'completed' }).waitFor(wait);
  assert.match(await page.locator('.progress').first().innerText(), /3\/3 \(100%\)/);
  assert.equal(await page.locator('dd.failed-count').innerText(), '1');
  const failed = page.locator('table.failed-rows tbody tr');
  assert.equal(await failed.count(), 1);
  assert.match(await failed.innerText(), /3\s+"bad"\s+bad_input/);
  assert.match(await failed.innerText(), /question/);
  await shoot(page, 'batch');
  // Listed with its progress.
  await page.getByRole('link', { name: '← Batches' }).click();
  const row = page.locator('table.batches tbody tr').first();
  await row.waitFor(wait);
  assert.match(await row.innerText(), /answer[\s\S]*completed[\s\S]*3\/3/);
  assert.deepEqual(problems, []);
  await context.close();
});
