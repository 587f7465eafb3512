// `tutti serve` under the Vercel AI SDK (`ai` with `@ai-sdk/openai`'s chat
// completions model, createOpenAI({baseURL, apiKey}).chat(model)):
// generateText, streamText, generateObject and Output.object with a zod
// schema, tools (the call's name and input, and a second step that sends
// the tool's result back), from a provider and from `ensemble/NAME`, and
// the ensemble's status read from the x-tutti-* response headers. Real
// processes over real sockets: the fake upstream (upstream.yaml) and
// `tutti serve` (tutti.yaml), both on 127.0.0.1 (serve_fixture.mjs).
//
//   TUTTI_BIN=build/cli/tutti \
//   TUTTI_FAKE_LLM_BIN=build/tools/fake_llm/tutti-fake-llm \
//     node --test tests/node/ai_sdk.test.mjs
//
// CTest runs it as ai_sdk_test through run_node_test.sh.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import { createOpenAI } from '@ai-sdk/openai';
import {
  APICallError,
  Output,
  generateObject,
  generateText,
  stepCountIs,
  streamText,
  tool,
} from 'ai';
import { z } from 'zod';

import { startFixture } from './serve_fixture.mjs';

const prompt = 'What is the capital of France?';
// What `paris` and both members of `ensemble/capital` answer (upstream.yaml).
const answer = 'Paris is the capital of France.';
const place = z.object({ city: z.string(), country: z.string() });
const weatherTool = (calls) =>
  tool({
    description: 'The weather in a city',
    inputSchema: z.object({ city: z.string(), unit: z.enum(['celsius', 'fahrenheit']) }),
    execute: async (input) => {
      calls.push(input);
      return { temperature: 18, unit: input.unit, sky: 'sunny' };
    },
  });

let fixture;
let tutti;

before(async () => {
  fixture = await startFixture();
  // maxRetries: 0 on every call below: a failure must show as it happened,
  // once (the AI SDK retries a 502 whatever x-should-retry says).
  tutti = createOpenAI({ baseURL: `${fixture.url}/v1`, apiKey: 'sk-anything' });
});

after(async () => {
  await fixture?.stop();
});

/// Asserts the ensemble status headers of a whole answer.
function assertStatusHeaders(headers, { status = 'ok', ok, failed = 0 }) {
  assert.equal(headers['x-tutti-status'], status);
  assert.equal(headers['x-tutti-members-ok'], String(ok));
  assert.equal(headers['x-tutti-members-failed'], String(failed));
  assert.match(headers['x-tutti-run-id'] ?? '', /^run_[0-9a-f]{24}$/);
}

/// The JSON body the SDK sent, from a result's `request`.
function sentBody(request) {
  return typeof request.body === 'string' ? JSON.parse(request.body) : request.body;
}

describe('generateText and streamText', () => {
  test('generateText from a provider is its answer, with ok status headers', async () => {
    const result = await generateText({ model: tutti.chat('paris'), prompt, maxRetries: 0 });
    assert.equal(result.text, answer);
    assert.equal(result.finishReason, 'stop');
    assert.ok(result.usage.outputTokens > 0, 'usage is reported');
    assert.equal(result.response.modelId, 'paris');
    assertStatusHeaders(result.response.headers, { ok: 1 });
  });

  test('generateText from ensemble/NAME is the answer; the headers count both members', async () => {
    const result = await generateText({
      model: tutti.chat('ensemble/capital'),
      system: 'Answer in one sentence.',
      prompt,
      maxRetries: 0,
    });
    assert.equal(result.text, answer);
    assert.equal(result.finishReason, 'stop');
    assertStatusHeaders(result.response.headers, { ok: 2 });
    // The body's `ensemble` object reaches the SDK's raw response body.
    const members = result.response.body.ensemble.members.map((m) => [m.member, m.status]);
    assert.deepEqual(members, [
      ['paris', 'ok'],
      ['seine', 'ok'],
    ]);
  });

  test('an ensemble with a failed member still answers; the headers say partial', async () => {
    const result = await generateText({ model: tutti.chat('ensemble/shaky'), prompt, maxRetries: 0 });
    assert.equal(result.text, answer);
    assertStatusHeaders(result.response.headers, { status: 'partial', ok: 1, failed: 1 });
  });

  test('streamText from a provider: the deltas add up to the answer', async () => {
    const result = streamText({ model: tutti.chat('paris'), prompt, maxRetries: 0 });
    const deltas = [];
    for await (const delta of result.textStream) {
      deltas.push(delta);
    }
    assert.ok(deltas.length >= 2, `several deltas, got ${deltas.length}`);
    assert.equal(deltas.join(''), answer);
    assert.equal(await result.finishReason, 'stop');
    assert.ok((await result.usage).outputTokens > 0, 'the SDK asked for, and got, a usage chunk');
    const response = await result.response;
    // A stream's headers go before any member is done: the run id only.
    assert.match(response.headers['x-tutti-run-id'] ?? '', /^run_[0-9a-f]{24}$/);
  });

  test('streamText from ensemble/NAME: the answer, and its members in the last raw chunk', async () => {
    const result = streamText({
      model: tutti.chat('ensemble/capital'),
      prompt,
      includeRawChunks: true,
      maxRetries: 0,
    });
    let text = '';
    let ensemble;
    for await (const part of result.fullStream) {
      if (part.type === 'text-delta') {
        text += part.text;
      } else if (part.type === 'raw' && part.rawValue?.ensemble !== undefined) {
        ensemble = part.rawValue.ensemble;
      } else if (part.type === 'error') {
        throw part.error;
      }
    }
    assert.equal(text, answer);
    assert.equal(await result.text, answer);
    assert.equal(ensemble?.status, 'ok', 'the finish chunk carries the ensemble');
    assert.deepEqual(
      ensemble.members.map((m) => m.status),
      ['ok', 'ok'],
    );
  });

  test('a refusal: the SDK reads message.refusal as text with finishReason content-filter', async () => {
    const result = await generateText({ model: tutti.chat('careful'), prompt, maxRetries: 0 });
    assert.equal(result.text, "I'm very sorry, but I can't assist with that.");
    assert.equal(result.finishReason, 'content-filter');
    // A refusal is a 200 whose headers say no member gave an answer.
    assertStatusHeaders(result.response.headers, { status: 'failed', ok: 0, failed: 1 });
  });

  // The default model speaks OpenAI's Responses API (POST /v1/responses).
  test('the default (Responses API) model: generateText on createOpenAI(...)(model)', async () => {
    const result = await generateText({ model: tutti('paris'), prompt, maxRetries: 0 });
    assert.equal(result.text, answer);
    assertStatusHeaders(result.response.headers, { status: 'ok', ok: 1, failed: 0 });
  });

  test('a failed ensemble is an APICallError 502 whose headers say failed', async () => {
    await assert.rejects(
      generateText({ model: tutti.chat('ensemble/doomed'), prompt, maxRetries: 0 }),
      (err) => {
        assert.ok(APICallError.isInstance(err), `expected an APICallError, got ${err}`);
        assert.equal(err.statusCode, 502);
        assert.match(err.message, /the ensemble 'doomed' has no answer/);
        assert.equal(err.responseHeaders['x-tutti-status'], 'failed');
        assert.equal(err.responseHeaders['x-tutti-members-ok'], '0');
        assert.equal(err.responseHeaders['x-tutti-members-failed'], '2');
        return true;
      },
    );
  });

  test('a failed ensemble asked to stream: the stream\'s error part is the 502', async () => {
    const result = streamText({
      model: tutti.chat('ensemble/doomed'),
      prompt,
      maxRetries: 0,
      onError: () => {}, // the error part below is what is checked
    });
    let error;
    for await (const part of result.fullStream) {
      if (part.type === 'error') {
        error = part.error;
      }
    }
    assert.ok(APICallError.isInstance(error), `expected an APICallError part, got ${error}`);
    assert.equal(error.statusCode, 502);
    assert.equal(error.responseHeaders['x-tutti-status'], 'failed');
  });
});

describe('structured output', () => {
  test('generateObject with a zod schema from a provider', async () => {
    const result = await generateObject({
      model: tutti.chat('jsonish'),
      schema: place,
      schemaName: 'place',
      prompt,
      maxRetries: 0,
    });
    assert.deepEqual(result.object, { city: 'Paris', country: 'France' });
    // The SDK asked for json_schema (structured outputs), which tutti took.
    assert.equal(sentBody(result.request).response_format.type, 'json_schema');
    assertStatusHeaders(result.response.headers, { ok: 1 });
  });

  test('generateObject with a zod schema from ensemble/NAME', async () => {
    const result = await generateObject({
      model: tutti.chat('ensemble/atlas'),
      schema: place,
      prompt,
      maxRetries: 0,
    });
    assert.deepEqual(result.object, { city: 'Paris', country: 'France' });
    assertStatusHeaders(result.response.headers, { ok: 2 });
  });

  test('generateText with Output.object (the newer spelling) parses the same object', async () => {
    const result = await generateText({
      model: tutti.chat('ensemble/atlas'),
      output: Output.object({ schema: place }),
      prompt,
      maxRetries: 0,
    });
    assert.deepEqual(result.output, { city: 'Paris', country: 'France' });
  });
});

describe('tools', () => {
  const weatherPrompt = 'What is the weather in Paris?';

  test('generateText with a tool: the model calls it and the SDK runs it', async () => {
    const calls = [];
    const result = await generateText({
      model: tutti.chat('weather'),
      tools: { get_weather: weatherTool(calls) },
      toolChoice: 'required',
      prompt: weatherPrompt,
      maxRetries: 0,
    });
    assert.equal(result.finishReason, 'tool-calls');
    assert.equal(result.toolCalls.length, 1);
    assert.equal(result.toolCalls[0].toolName, 'get_weather');
    assert.deepEqual(result.toolCalls[0].input, { city: 'Paris', unit: 'celsius' });
    assert.equal(typeof result.toolCalls[0].toolCallId, 'string');
    assert.deepEqual(calls, [{ city: 'Paris', unit: 'celsius' }]);
    assert.deepEqual(result.toolResults[0].output, { temperature: 18, unit: 'celsius', sky: 'sunny' });
    assertStatusHeaders(result.response.headers, { ok: 1 });
  });

  test('a second step sends the tool result back and gets the answer', async () => {
    const calls = [];
    const result = await generateText({
      model: tutti.chat('weather'),
      tools: { get_weather: weatherTool(calls) },
      prompt: weatherPrompt,
      stopWhen: stepCountIs(3),
      // The fake's replies are fixed per model: the step after the tool
      // result asks `reporter`, which answers in words.
      prepareStep: ({ stepNumber }) => (stepNumber > 0 ? { model: tutti.chat('reporter') } : {}),
      maxRetries: 0,
    });
    assert.equal(result.steps.length, 2);
    assert.equal(result.steps[0].toolCalls[0].toolName, 'get_weather');
    assert.equal(result.text, 'It is 18 degrees and sunny in Paris.');
    assert.equal(result.finishReason, 'stop');
    assert.deepEqual(calls, [{ city: 'Paris', unit: 'celsius' }]);
    // The second request carried the assistant's call and the tool's result.
    const { messages } = sentBody(result.steps[1].request);
    const call = messages.find((m) => m.role === 'assistant')?.tool_calls?.[0];
    const reply = messages.find((m) => m.role === 'tool');
    assert.equal(call?.function?.name, 'get_weather');
    assert.equal(reply?.tool_call_id, call.id);
    assert.deepEqual(JSON.parse(reply.content), { temperature: 18, unit: 'celsius', sky: 'sunny' });
    assertStatusHeaders(result.response.headers, { ok: 1 });
  });

  test('streamText with a tool: the streamed call is assembled', async () => {
    const calls = [];
    const result = streamText({
      model: tutti.chat('weather'),
      tools: { get_weather: weatherTool(calls) },
      prompt: weatherPrompt,
      maxRetries: 0,
    });
    const toolCalls = await result.toolCalls;
    assert.equal(toolCalls.length, 1);
    assert.equal(toolCalls[0].toolName, 'get_weather');
    assert.deepEqual(toolCalls[0].input, { city: 'Paris', unit: 'celsius' });
    assert.equal(await result.finishReason, 'tool-calls');
    assert.deepEqual(calls, [{ city: 'Paris', unit: 'celsius' }]);
  });

  test('an ensemble votes on the call: both spellings agree and the SDK gets one call', async () => {
    const calls = [];
    const result = await generateText({
      model: tutti.chat('ensemble/forecast'),
      tools: { get_weather: weatherTool(calls) },
      prompt: weatherPrompt,
      maxRetries: 0,
    });
    assert.equal(result.toolCalls.length, 1);
    assert.equal(result.toolCalls[0].toolName, 'get_weather');
    assert.deepEqual(result.toolCalls[0].input, { city: 'Paris', unit: 'celsius' });
    assert.equal(result.response.body.ensemble.agreement, 1);
    assertStatusHeaders(result.response.headers, { ok: 2 });
  });
});
