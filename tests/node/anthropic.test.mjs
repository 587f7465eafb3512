// `tutti serve` under Anthropic's official npm SDK (@anthropic-ai/sdk):
// messages.create whole and streamed (messages.stream, its events and
// finalMessage), tools (a tool_use, then its tool_result in a second
// turn), from a provider and from `ensemble/NAME`, the ensemble's status
// from the x-tutti-* headers, the key sent as x-api-key, and the SDK's own
// error classes. Real processes over real sockets: the fake upstream
// (upstream.yaml) and `tutti serve` (tutti.yaml, with a token), both on
// 127.0.0.1 (serve_fixture.mjs).
//
//   TUTTI_BIN=build/cli/tutti \
//   TUTTI_FAKE_LLM_BIN=build/tools/fake_llm/tutti-fake-llm \
//     node --test tests/node/anthropic.test.mjs
//
// CTest runs it as anthropic_sdk_test through run_node_test.sh.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import Anthropic from '@anthropic-ai/sdk';

import { startFixture } from './serve_fixture.mjs';

const token = 'test-token-for-anthropic';
const question = [{ role: 'user', content: 'What is the capital of France?' }];
const answer = 'Paris is the capital of France.';
const weather = {
  name: 'get_weather',
  description: 'The weather in a city',
  input_schema: {
    type: 'object',
    properties: { city: { type: 'string' }, unit: { type: 'string' } },
    required: ['city'],
  },
};

let fixture;
let client;

before(async () => {
  fixture = await startFixture({ serveArgs: ['--token', token] });
  // The SDK sends its key as x-api-key, which tutti takes as the token.
  client = new Anthropic({ baseURL: fixture.url, apiKey: token, maxRetries: 0 });
});

after(async () => {
  await fixture?.stop();
});

function assertStatusHeaders(headers, { status = 'ok', ok, failed = 0 }) {
  assert.equal(headers.get('x-tutti-status'), status);
  assert.equal(headers.get('x-tutti-members-ok'), String(ok));
  assert.equal(headers.get('x-tutti-members-failed'), String(failed));
  assert.match(headers.get('x-tutti-run-id') ?? '', /^run_[0-9a-f]{24}$/);
}

describe('messages.create', () => {
  test('a provider, whole: a text block, end_turn, usage', async () => {
    const { data, response } = await client.messages
      .create({ model: 'paris', max_tokens: 100, system: 'Answer briefly.', messages: question })
      .withResponse();
    assert.equal(data.type, 'message');
    assert.equal(data.role, 'assistant');
    assert.match(data.id, /^msg_/);
    assert.equal(data.content[0].type, 'text');
    assert.equal(data.content[0].text, answer);
    assert.equal(data.stop_reason, 'end_turn');
    assert.ok(data.usage.output_tokens > 0);
    assertStatusHeaders(response.headers, { ok: 1 });
  });

  test('an image block, base64 or by URL, goes with the question', async () => {
    // A PNG's first eight bytes: a picture as far as tutti can tell.
    const data = await client.messages.create({
      model: 'ensemble/capital', max_tokens: 100,
      messages: [{ role: 'user', content: [
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
        { type: 'image', source: { type: 'url', url: 'https://example.com/paris.jpg' } },
        { type: 'text', text: 'What city is this?' },
      ] }],
    });
    assert.equal(data.content[0].text, answer);
    await assert.rejects(
      client.messages.create({
        model: 'paris', max_tokens: 10,
        messages: [{ role: 'user', content: [
          { type: 'image', source: { type: 'base64', media_type: 'image/tiff', data: 'AAAA' } }] }],
      }),
      (err) => {
        assert.ok(err instanceof Anthropic.BadRequestError, `got ${err}`);
        assert.match(err.error.error.message, /image\/png, image\/jpeg/);
        return true;
      },
    );
  });

  test('an ensemble with one member failing answers, and says partial', async () => {
    const { data, response } = await client.messages
      .create({ model: 'ensemble/shaky', max_tokens: 100, messages: question })
      .withResponse();
    assert.equal(data.content[0].text, answer);
    assert.equal(data.ensemble.status, 'partial');
    assertStatusHeaders(response.headers, { status: 'partial', ok: 1, failed: 1 });
  });

  test('streamed: text deltas add up and finalMessage is the whole message', async () => {
    const stream = client.messages.stream({ model: 'ensemble/capital', max_tokens: 100, messages: question });
    let text = '';
    const types = [];
    stream.on('text', (delta) => {
      text += delta;
    });
    for await (const event of stream) {
      types.push(event.type);
    }
    const final = await stream.finalMessage();
    assert.equal(text, answer);
    assert.equal(final.content[0].text, answer);
    assert.equal(final.stop_reason, 'end_turn');
    assert.equal(types[0], 'message_start');
    assert.equal(types.at(-1), 'message_stop');
  });
});

describe('tools', () => {
  test('a tool_use, then its tool_result in a second turn', async () => {
    const first = await client.messages.create({
      model: 'weather',
      max_tokens: 100,
      tools: [weather],
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
    });
    assert.equal(first.stop_reason, 'tool_use');
    const use = first.content.find((block) => block.type === 'tool_use');
    assert.equal(use.name, 'get_weather');
    assert.deepEqual(use.input, { city: 'Paris', unit: 'celsius' });
    const second = await client.messages.create({
      model: 'reporter',
      max_tokens: 100,
      tools: [weather],
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: first.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '18 degrees, sunny' }] },
      ],
    });
    assert.equal(second.content[0].text, 'It is 18 degrees and sunny in Paris.');
  });

  test('streamed from an ensemble that votes: the input arrives whole at the end', async () => {
    const stream = client.messages.stream({
      model: 'ensemble/forecast',
      max_tokens: 100,
      tools: [weather],
      tool_choice: { type: 'any' },
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
    });
    const final = await stream.finalMessage();
    const use = final.content.find((block) => block.type === 'tool_use');
    assert.deepEqual(use.input, { city: 'Paris', unit: 'celsius' });
    assert.equal(final.stop_reason, 'tool_use');
  });
});

describe('errors', () => {
  test('a wrong key is an AuthenticationError', async () => {
    const wrong = new Anthropic({ baseURL: fixture.url, apiKey: 'not-the-token', maxRetries: 0 });
    await assert.rejects(wrong.messages.create({ model: 'paris', max_tokens: 10, messages: question }), (err) => {
      assert.ok(err instanceof Anthropic.AuthenticationError, `got ${err}`);
      assert.equal(err.error.type, 'error');
      assert.equal(err.error.error.type, 'authentication_error');
      return true;
    });
  });

  test('an unknown model is a NotFoundError', async () => {
    await assert.rejects(client.messages.create({ model: 'nope', max_tokens: 10, messages: question }), (err) => {
      assert.ok(err instanceof Anthropic.NotFoundError, `got ${err}`);
      assert.match(err.error.error.message, /does not exist/);
      return true;
    });
  });

  test('what tutti cannot honour is a BadRequestError that names it', async () => {
    await assert.rejects(
      client.messages.create({ model: 'paris', max_tokens: 10, top_k: 5, messages: question }),
      (err) => {
        assert.ok(err instanceof Anthropic.BadRequestError, `got ${err}`);
        assert.match(err.error.error.message, /top_k/);
        return true;
      },
    );
  });

  test('a provider 429 is a RateLimitError', async () => {
    await assert.rejects(client.messages.create({ model: 'limited', max_tokens: 10, messages: question }), (err) => {
      assert.ok(err instanceof Anthropic.RateLimitError, `got ${err}`);
      assert.equal(err.error.error.type, 'rate_limit_error');
      return true;
    });
  });

  test('a failed ensemble is a 502 the SDK does not retry (x-should-retry: false)', async () => {
    const retrying = new Anthropic({ baseURL: fixture.url, apiKey: token, maxRetries: 2 });
    const started = Date.now();
    await assert.rejects(
      retrying.messages.create({ model: 'ensemble/doomed', max_tokens: 10, messages: question }),
      (err) => {
        assert.equal(err.status, 502);
        assert.equal(err.error.error.type, 'api_error');
        assert.equal(err.error.ensemble.status, 'failed');
        return true;
      },
    );
    assert.ok(Date.now() - started < 1500, 'no retry delay');
  });
});
