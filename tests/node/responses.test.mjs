// `tutti serve` under the official OpenAI npm SDK's Responses API
// (client.responses): create whole and streamed (its typed events and
// finalResponse), function calls and a second turn with their output,
// structured output with responses.parse and a zod format, from a
// provider and from `ensemble/NAME`, the ensemble's status from the
// x-tutti-* headers, and the SDK's error classes. Real processes over real
// sockets: the fake upstream (upstream.yaml) and `tutti serve`
// (tutti.yaml), both on 127.0.0.1 (serve_fixture.mjs).
//
//   TUTTI_BIN=build/cli/tutti \
//   TUTTI_FAKE_LLM_BIN=build/tools/fake_llm/tutti-fake-llm \
//     node --test tests/node/responses.test.mjs
//
// CTest runs it as openai_responses_test through run_node_test.sh.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import OpenAI from 'openai';
import { zodTextFormat } from 'openai/helpers/zod';
import { z } from 'zod';

import { startFixture } from './serve_fixture.mjs';

const question = 'What is the capital of France?';
const answer = 'Paris is the capital of France.';
const weather = {
  type: 'function',
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: {
    type: 'object',
    properties: { city: { type: 'string' }, unit: { type: 'string' } },
    required: ['city', 'unit'],
    additionalProperties: false,
  },
  strict: true,
};

let fixture;
let client;

before(async () => {
  fixture = await startFixture();
  client = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: 'sk-anything', maxRetries: 0 });
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

describe('responses.create', () => {
  test('a provider, whole: output_text, usage and the ensemble beside them', async () => {
    const { data, response } = await client.responses
      .create({ model: 'paris', input: question, instructions: 'Answer briefly.' })
      .withResponse();
    assert.equal(data.object, 'response');
    assert.equal(data.status, 'completed');
    assert.match(data.id, /^resp_/);
    assert.equal(data.output_text, answer);
    assert.equal(data.instructions, 'Answer briefly.');
    assert.ok(data.usage.output_tokens > 0);
    assert.equal(data.usage.total_tokens, data.usage.input_tokens + data.usage.output_tokens);
    assert.equal(data.ensemble.members[0].provider, 'paris');
    assertStatusHeaders(response.headers, { ok: 1 });
  });

  test('an ensemble, from message items, with one member failing: partial', async () => {
    const { data, response } = await client.responses
      .create({
        model: 'ensemble/shaky',
        input: [{ type: 'message', role: 'user', content: [{ type: 'input_text', text: question }] }],
      })
      .withResponse();
    assert.equal(data.output_text, answer);
    assert.equal(data.ensemble.status, 'partial');
    assertStatusHeaders(response.headers, { status: 'partial', ok: 1, failed: 1 });
  });

  test('streamed: the typed events in order, deltas that add up, finalResponse', async () => {
    const stream = client.responses.stream({ model: 'ensemble/capital', input: question });
    const types = [];
    let text = '';
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'response.output_text.delta') {
        text += event.delta;
      }
    }
    const final = await stream.finalResponse();
    assert.equal(text, answer);
    assert.equal(final.output_text, answer);
    assert.equal(types[0], 'response.created');
    assert.equal(types.at(-1), 'response.completed');
    for (const type of [
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.done',
      'response.output_item.done',
    ]) {
      assert.ok(types.includes(type), `${type} in ${types}`);
    }
  });

  test('a refusal is a refusal content part', async () => {
    const data = await client.responses.create({ model: 'careful', input: question });
    const part = data.output[0].content[0];
    assert.equal(part.type, 'refusal');
    assert.equal(part.refusal, "I'm very sorry, but I can't assist with that.");
  });
});

describe('function calls', () => {
  test('a call, then its output sent back in a second turn', async () => {
    const first = await client.responses.create({ model: 'weather', input: 'Weather in Paris?', tools: [weather] });
    const call = first.output.find((item) => item.type === 'function_call');
    assert.ok(call, `a function_call item in ${JSON.stringify(first.output)}`);
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.arguments), { city: 'Paris', unit: 'celsius' });
    assert.match(call.call_id, /\S/);
    const second = await client.responses.create({
      model: 'reporter',
      tools: [weather],
      input: [
        { role: 'user', content: 'Weather in Paris?' },
        call,
        { type: 'function_call_output', call_id: call.call_id, output: '{"temperature": 18}' },
      ],
    });
    assert.equal(second.output_text, 'It is 18 degrees and sunny in Paris.');
  });

  test('an ensemble votes on the call; streamed, its arguments arrive as events', async () => {
    const stream = client.responses.stream({ model: 'ensemble/forecast', input: 'Weather in Paris?', tools: [weather] });
    let argumentsDone;
    for await (const event of stream) {
      if (event.type === 'response.function_call_arguments.done') {
        argumentsDone = event.arguments;
      }
    }
    const final = await stream.finalResponse();
    const call = final.output.find((item) => item.type === 'function_call');
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(JSON.parse(argumentsDone), { city: 'Paris', unit: 'celsius' });
    assert.equal(final.ensemble.combine, 'vote');
    assert.equal(final.ensemble.agreement, 1);
  });
});

describe('structured output', () => {
  test('responses.parse with a zod text format', async () => {
    const place = z.object({ city: z.string(), country: z.string() });
    const data = await client.responses.parse({
      model: 'ensemble/atlas',
      input: 'Where is the Eiffel tower?',
      text: { format: zodTextFormat(place, 'place') },
    });
    assert.deepEqual(data.output_parsed, { city: 'Paris', country: 'France' });
  });
});

describe('errors', () => {
  test('an unknown model is a NotFoundError naming the model', async () => {
    await assert.rejects(client.responses.create({ model: 'nope', input: question }), (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, `got ${err}`);
      assert.equal(err.code, 'model_not_found');
      return true;
    });
  });

  test('previous_response_id is a BadRequestError that says why', async () => {
    await assert.rejects(
      client.responses.create({ model: 'paris', input: question, previous_response_id: 'resp_1' }),
      (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, `got ${err}`);
        assert.equal(err.param, 'previous_response_id');
        assert.match(err.message, /keeps no responses/);
        return true;
      },
    );
  });

  test('a failed ensemble is a 502 the SDK does not retry', async () => {
    const retrying = new OpenAI({ baseURL: `${fixture.url}/v1`, apiKey: 'sk-anything', maxRetries: 2 });
    const started = Date.now();
    await assert.rejects(retrying.responses.create({ model: 'ensemble/doomed', input: question }), (err) => {
      assert.equal(err.status, 502);
      assert.equal(err.headers.get('x-should-retry'), 'false');
      assert.equal(err.headers.get('x-tutti-status'), 'failed');
      return true;
    });
    assert.ok(Date.now() - started < 1500, 'no retry delay');
  });

  test('a provider 429 passes through as a RateLimitError with its Retry-After', async () => {
    await assert.rejects(client.responses.create({ model: 'limited', input: question }), (err) => {
      assert.ok(err instanceof OpenAI.RateLimitError, `got ${err}`);
      assert.equal(err.headers.get('retry-after-ms'), '200');
      return true;
    });
  });
});
