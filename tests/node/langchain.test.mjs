// `tutti serve` under LangChain JS (`@langchain/openai`'s ChatOpenAI with
// `configuration: {baseURL}`, `@langchain/core`): invoke, stream,
// withStructuredOutput with a zod schema (json_schema, function calling,
// json mode), bindTools (the call's name and arguments, a streamed call,
// and a second turn with the tool's result), from a provider and from
// `ensemble/NAME`. LangChain drops the response body's extra fields, so the
// ensemble's status is read from the x-tutti-* response headers through a
// custom `fetch` in `configuration`. Real processes over real sockets: the
// fake upstream (upstream.yaml) and `tutti serve` (tutti.yaml), both on
// 127.0.0.1 (serve_fixture.mjs).
//
//   TUTTI_BIN=build/cli/tutti \
//   TUTTI_FAKE_LLM_BIN=build/tools/fake_llm/tutti-fake-llm \
//     node --test tests/node/langchain.test.mjs
//
// CTest runs it as langchain_test through run_node_test.sh.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { HumanMessage, SystemMessage, ToolMessage } from '@langchain/core/messages';
import { tool } from '@langchain/core/tools';
import { ChatOpenAI } from '@langchain/openai';
import { z } from 'zod';

import { startFixture } from './serve_fixture.mjs';

const question = 'What is the capital of France?';
// What `paris` and both members of `ensemble/capital` answer (upstream.yaml).
const answer = 'Paris is the capital of France.';
const place = z.object({ city: z.string(), country: z.string() }).describe('A city and its country');
const getWeather = tool(async ({ city, unit }) => `18 degrees ${unit} and sunny in ${city}`, {
  name: 'get_weather',
  description: 'The weather in a city',
  schema: z.object({ city: z.string(), unit: z.enum(['celsius', 'fahrenheit']) }),
});

let fixture;

before(async () => {
  fixture = await startFixture();
});

after(async () => {
  await fixture?.stop();
});

/// A ChatOpenAI for `model` on tutti, whose fetch records every exchange:
/// {chat, seen}, `seen` holding {url, body (the JSON sent), headers}.
function chatModel(model, fields = {}) {
  const seen = [];
  const recording = async (input, init) => {
    const response = await fetch(input, init);
    seen.push({
      url: String(input instanceof Request ? input.url : input),
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
      headers: response.headers,
    });
    return response;
  };
  const chat = new ChatOpenAI({
    model,
    apiKey: 'sk-anything',
    // No retries: a failure must show as it happened, once.
    maxRetries: 0,
    timeout: 20_000,
    configuration: { baseURL: `${fixture.url}/v1`, fetch: recording },
    ...fields,
  });
  return { chat, seen };
}

/// Asserts the ensemble status headers of the last whole answer.
function assertStatusHeaders(seen, { status = 'ok', ok, failed = 0 }) {
  assert.ok(seen.length > 0, 'the custom fetch saw the request');
  const { headers, url } = seen.at(-1);
  assert.match(url, /\/v1\/(chat\/completions|responses)$/);
  assert.equal(headers.get('x-tutti-status'), status);
  assert.equal(headers.get('x-tutti-members-ok'), String(ok));
  assert.equal(headers.get('x-tutti-members-failed'), String(failed));
  assert.match(headers.get('x-tutti-run-id') ?? '', /^run_[0-9a-f]{24}$/);
}

/// Streams `input` through `runnable`; returns the chunks and their sum.
async function collect(runnable, input) {
  const chunks = [];
  let sum;
  for await (const chunk of await runnable.stream(input)) {
    chunks.push(chunk);
    sum = sum === undefined ? chunk : sum.concat(chunk);
  }
  return { chunks, sum };
}

describe('invoke and stream', () => {
  test('invoke on a provider is its answer, with ok status headers', async () => {
    const { chat, seen } = chatModel('paris');
    const reply = await chat.invoke(question);
    assert.equal(reply.content, answer);
    assert.equal(reply.response_metadata.finish_reason, 'stop');
    assert.ok(reply.usage_metadata.output_tokens > 0, 'usage is reported');
    assertStatusHeaders(seen, { ok: 1 });
  });

  test('invoke on ensemble/NAME is the answer; the headers count both members', async () => {
    const { chat, seen } = chatModel('ensemble/capital', { temperature: 0.2 });
    const reply = await chat.invoke([
      new SystemMessage('Answer in one sentence.'),
      new HumanMessage(question),
    ]);
    assert.equal(reply.content, answer);
    assertStatusHeaders(seen, { ok: 2 });
    assert.equal(seen[0].body.temperature, 0.2);
  });

  test('an ensemble with a failed member still answers; the headers say partial', async () => {
    const { chat, seen } = chatModel('ensemble/shaky');
    const reply = await chat.invoke(question);
    assert.equal(reply.content, answer);
    assertStatusHeaders(seen, { status: 'partial', ok: 1, failed: 1 });
  });

  test('stream on a provider: the chunks add up to the answer, with usage', async () => {
    const { chat, seen } = chatModel('paris');
    const { chunks, sum } = await collect(chat, question);
    assert.ok(chunks.length >= 2, `several chunks, got ${chunks.length}`);
    assert.equal(sum.content, answer);
    assert.ok(sum.usage_metadata?.output_tokens > 0, 'LangChain asked for, and got, a usage chunk');
    assert.deepEqual(seen[0].body.stream_options, { include_usage: true });
    // A stream's headers go before any member is done: the run id only.
    assert.match(seen[0].headers.get('x-tutti-run-id') ?? '', /^run_[0-9a-f]{24}$/);
  });

  test('stream on ensemble/NAME: the chunks add up to the answer', async () => {
    const { chat } = chatModel('ensemble/capital');
    const { sum } = await collect(chat, question);
    assert.equal(sum.content, answer);
    assert.equal(sum.response_metadata.finish_reason, 'stop');
  });

  test('a refusal: LangChain drops message.refusal, the headers still say failed', async () => {
    const { chat, seen } = chatModel('careful');
    const reply = await chat.invoke(question);
    // ChatOpenAI's chat completions reader keeps `content` (null, so '')
    // and not `refusal`: the status header is what shows no member answered.
    assert.equal(reply.content, '');
    assertStatusHeaders(seen, { status: 'failed', ok: 0, failed: 1 });
  });

  // ChatOpenAI speaks OpenAI's Responses API (POST /v1/responses) with
  // useResponsesApi, built-in tools and Responses-only options.
  test('useResponsesApi: invoke through the Responses API', async () => {
    const { chat, seen } = chatModel('paris', { useResponsesApi: true });
    const reply = await chat.invoke(question);
    assert.equal(reply.text, answer);
    assertStatusHeaders(seen, { status: 'ok', ok: 1, failed: 0 });
  });

  test('a failed ensemble rejects with the 502, and the headers say failed', async () => {
    const { chat, seen } = chatModel('ensemble/doomed');
    await assert.rejects(chat.invoke(question), (err) => {
      assert.equal(err.status, 502, `expected a 502, got ${err}`);
      assert.match(err.message, /the ensemble 'doomed' has no answer/);
      return true;
    });
    assert.equal(seen.length, 1, 'no retry');
    assertStatusHeaders(seen, { status: 'failed', ok: 0, failed: 2 });
  });

  test('a failed ensemble asked to stream rejects with the 502 before any chunk', async () => {
    const { chat, seen } = chatModel('ensemble/doomed');
    await assert.rejects(collect(chat, question), (err) => {
      assert.equal(err.status, 502, `expected a 502, got ${err}`);
      return true;
    });
    assert.equal(seen[0].headers.get('x-tutti-status'), 'failed');
  });
});

describe('withStructuredOutput', () => {
  const paris = { city: 'Paris', country: 'France' };

  test('a zod schema (json_schema by default) on a provider', async () => {
    const { chat, seen } = chatModel('jsonish');
    const structured = chat.withStructuredOutput(place, { name: 'place' });
    assert.deepEqual(await structured.invoke(question), paris);
    assert.equal(seen[0].body.response_format.type, 'json_schema');
    assert.equal(seen[0].body.response_format.json_schema.name, 'place');
    assertStatusHeaders(seen, { ok: 1 });
  });

  test('a zod schema on ensemble/NAME, with the raw message beside the object', async () => {
    const { chat, seen } = chatModel('ensemble/atlas');
    const structured = chat.withStructuredOutput(place, { name: 'place', includeRaw: true });
    const { parsed, raw } = await structured.invoke(question);
    assert.deepEqual(parsed, paris);
    assert.deepEqual(JSON.parse(raw.content), paris);
    assertStatusHeaders(seen, { ok: 2 });
  });

  test('method functionCalling: a forced call of the schema\'s tool', async () => {
    const { chat, seen } = chatModel('placer');
    const structured = chat.withStructuredOutput(place, { name: 'place', method: 'functionCalling' });
    assert.deepEqual(await structured.invoke(question), paris);
    assert.deepEqual(seen[0].body.tool_choice, { type: 'function', function: { name: 'place' } });
    assertStatusHeaders(seen, { ok: 1 });
  });

  test('method jsonMode: json_object', async () => {
    const { chat, seen } = chatModel('jsonish');
    const structured = chat.withStructuredOutput(place, { method: 'jsonMode' });
    assert.deepEqual(await structured.invoke(`${question} Reply in JSON.`), paris);
    assert.deepEqual(seen[0].body.response_format, { type: 'json_object' });
  });
});

describe('bindTools', () => {
  const weatherQuestion = new HumanMessage('What is the weather in Paris?');

  test('a provider calls the bound tool: name, arguments and id come through', async () => {
    const { chat, seen } = chatModel('weather');
    const reply = await chat.bindTools([getWeather], { tool_choice: 'required' }).invoke([weatherQuestion]);
    assert.equal(reply.tool_calls.length, 1);
    const [call] = reply.tool_calls;
    assert.equal(call.name, 'get_weather');
    assert.deepEqual(call.args, { city: 'Paris', unit: 'celsius' });
    assert.equal(typeof call.id, 'string');
    assert.equal(reply.response_metadata.finish_reason, 'tool_calls');
    assert.equal(seen[0].body.tools[0].function.name, 'get_weather');
    assertStatusHeaders(seen, { ok: 1 });
  });

  test('the tool\'s result goes back in a second turn and the answer comes', async () => {
    const { chat: caller } = chatModel('weather');
    const first = await caller.bindTools([getWeather]).invoke([weatherQuestion]);
    const [call] = first.tool_calls;
    const result = await getWeather.invoke(call);
    assert.ok(result instanceof ToolMessage, 'running the tool on the call gives a ToolMessage');
    assert.equal(result.tool_call_id, call.id);
    // The fake's replies are fixed per model: the turn after the tool's
    // result asks `reporter`, which answers in words.
    const { chat: reporter, seen } = chatModel('reporter');
    const second = await reporter.bindTools([getWeather]).invoke([weatherQuestion, first, result]);
    assert.equal(second.content, 'It is 18 degrees and sunny in Paris.');
    const sent = seen[0].body.messages;
    assert.equal(sent[1].tool_calls[0].function.name, 'get_weather');
    // LangChain names the tool on its result too (`name`); tutti takes it.
    assert.deepEqual(sent[2], {
      role: 'tool',
      name: 'get_weather',
      tool_call_id: call.id,
      content: '18 degrees celsius and sunny in Paris',
    });
    assertStatusHeaders(seen, { ok: 1 });
  });

  test('a streamed tool call is assembled from its chunks', async () => {
    const { chat } = chatModel('weather');
    const { chunks, sum } = await collect(chat.bindTools([getWeather]), [weatherQuestion]);
    assert.ok(chunks.length >= 2, `several chunks, got ${chunks.length}`);
    assert.equal(sum.tool_calls.length, 1);
    assert.equal(sum.tool_calls[0].name, 'get_weather');
    assert.deepEqual(sum.tool_calls[0].args, { city: 'Paris', unit: 'celsius' });
  });

  test('an ensemble votes on the call: LangChain gets one call', async () => {
    const { chat, seen } = chatModel('ensemble/forecast');
    const reply = await chat.bindTools([getWeather]).invoke([weatherQuestion]);
    assert.equal(reply.tool_calls.length, 1);
    assert.equal(reply.tool_calls[0].name, 'get_weather');
    assert.deepEqual(reply.tool_calls[0].args, { city: 'Paris', unit: 'celsius' });
    assertStatusHeaders(seen, { ok: 2 });
  });
});
