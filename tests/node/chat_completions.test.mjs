// `tutti serve` under the official OpenAI npm SDK: chat completions whole and
// streamed, from a provider and from an ensemble, embeddings, the SDK's own error
// classes for 404, 400, 401, 429 and 502, and its retry rules: a provider's
// 429 is retried as the vendor's would be, a failed ensemble is not. Real
// processes over real sockets: the fake upstream (tutti-fake-llm,
// upstream.yaml) and `tutti serve` (tutti.yaml), both on 127.0.0.1 with a
// free port (serve_fixture.mjs).
//
//   TUTTI_BIN=build/cli/tutti \
//   TUTTI_FAKE_LLM_BIN=build/tools/fake_llm/tutti-fake-llm \
//     node --test tests/node/chat_completions.test.mjs
//
// CTest runs it as openai_sdk_test through run_node_test.sh, which checks
// node and node_modules first.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

import OpenAI from 'openai';

import { startFixture } from './serve_fixture.mjs';

const question = [{ role: 'user', content: 'What is the capital of France?' }];
// Both scripted models answer this (upstream.yaml), so it is the answer of
// the provider `paris` and of `ensemble/capital` alike.
const answer = 'Paris is the capital of France.';
const token = 'test-token-for-serve';

function client(baseUrl, apiKey = 'sk-anything') {
  // No retries: a failure must show as it happened, once.
  return new OpenAI({ baseURL: `${baseUrl}/v1`, apiKey, maxRetries: 0, timeout: 20_000 });
}

/// Iterates a streamed completion to its end; returns the chunks.
async function collect(stream) {
  const chunks = [];
  for await (const chunk of stream) {
    chunks.push(chunk);
  }
  return chunks;
}

function deltas(chunks) {
  return chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
}

/// Asserts OpenAI's error shape on an SDK error: `err.error` is the body's
/// `error` object, `{message, type, param, code}`.
function assertOpenAIError(err, status) {
  assert.ok(err instanceof OpenAI.APIError, `expected an APIError, got ${err}`);
  assert.equal(err.status, status);
  assert.equal(typeof err.error, 'object', 'the body has an "error" object');
  assert.equal(typeof err.error.message, 'string');
  assert.ok(err.error.message.length > 0, 'the error says what is wrong');
  assert.equal(typeof err.error.type, 'string');
  assert.ok('param' in err.error, 'error.param is present (null or a string)');
  assert.ok('code' in err.error, 'error.code is present (null or a string)');
}

let fixture;

before(async () => {
  fixture = await startFixture();
});

after(async () => {
  await fixture?.stop();
});

/// Another `tutti serve` on the same fake upstream, with `extraArgs`.
function startServe(extraArgs = []) {
  return fixture.serve(extraArgs);
}

describe('tutti serve under the OpenAI SDK', () => {
  let openai;

  before(() => {
    openai = client(fixture.url);
  });

  test('a whole completion from a provider is its answer', async () => {
    const completion = await openai.chat.completions.create({ model: 'paris', messages: question });
    assert.equal(completion.object, 'chat.completion');
    assert.equal(typeof completion.id, 'string');
    assert.equal(completion.choices.length, 1);
    assert.equal(completion.choices[0].message.role, 'assistant');
    assert.equal(completion.choices[0].message.content, answer);
    assert.equal(completion.choices[0].finish_reason, 'stop');
    assert.ok(completion.usage.completion_tokens > 0, 'usage is reported');
  });

  test('a whole completion from ensemble/NAME is the answer, with every member listed', async () => {
    const completion = await openai.chat.completions.create({
      model: 'ensemble/capital',
      messages: question,
    });
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.choices[0].message.content, answer);
    const ensemble = completion.ensemble;
    assert.equal(typeof ensemble, 'object', 'the reply has an "ensemble" object');
    assert.ok(Array.isArray(ensemble.members), 'ensemble.members is an array');
    assert.deepEqual(
      ensemble.members.map((m) => [m.member, m.status]),
      [
        ['paris', 'ok'],
        ['seine', 'ok'],
      ],
    );
    for (const m of ensemble.members) {
      assert.equal(m.text, answer);
    }
  });

  test('a streamed completion from a provider: deltas add up to the answer and the stream ends', async () => {
    const stream = await openai.chat.completions.create({
      model: 'paris',
      messages: question,
      stream: true,
    });
    const chunks = await collect(stream);
    assert.ok(chunks.length >= 2, `several chunks, got ${chunks.length}`);
    for (const chunk of chunks) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      assert.equal(chunk.id, chunks[0].id, 'every chunk carries the same id');
    }
    assert.equal(deltas(chunks), answer);
    assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
  });

  test('a streamed completion from ensemble/NAME: deltas add up to the answer', async () => {
    const stream = await openai.chat.completions.create({
      model: 'ensemble/capital',
      messages: question,
      stream: true,
    });
    const chunks = await collect(stream);
    assert.equal(deltas(chunks), answer);
    const finishes = chunks.map((c) => c.choices[0]?.finish_reason).filter((f) => f);
    assert.deepEqual(finishes, ['stop'], 'one finish reason, at the end');
  });

  test('stream_options.include_usage ends the stream with a usage chunk', async () => {
    const stream = await openai.chat.completions.create({
      model: 'paris',
      messages: question,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = await collect(stream);
    assert.equal(deltas(chunks), answer);
    const last = chunks.at(-1);
    assert.deepEqual(last.choices, [], 'the usage chunk has no choices');
    assert.ok(last.usage.prompt_tokens > 0);
    assert.ok(last.usage.completion_tokens > 0);
    assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens);
  });

  test('the SDK stream helper reassembles the same answer', async () => {
    const runner = openai.chat.completions.stream({ model: 'ensemble/capital', messages: question });
    const completion = await runner.finalChatCompletion();
    assert.equal(completion.choices[0].message.content, answer);
  });

  test('an image part goes through to the provider and the answer comes back', async () => {
    // A PNG's first eight bytes: a picture as far as tutti can tell.
    const completion = await openai.chat.completions.create({
      model: 'ensemble/capital',
      messages: [{ role: 'user', content: [
        { type: 'text', text: 'What city is in this picture?' },
        { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' } },
      ] }],
    });
    assert.equal(completion.choices[0].message.content, answer);
    // A picture that is not base64 is the SDK's BadRequestError naming the part.
    await assert.rejects(
      openai.chat.completions.create({
        model: 'paris',
        messages: [{ role: 'user', content: [
          { type: 'image_url', image_url: { url: 'data:image/png;base64,not base64!' } }] }],
      }),
      (err) => {
        assertOpenAIError(err, 400);
        assert.equal(err.error.param, 'messages[0].content[0].image_url.url');
        return true;
      },
    );
  });

  test('n choices and logprobs reach the SDK, whole and through its stream helper', async () => {
    const completion = await openai.chat.completions.create({
      model: 'paris', messages: question, n: 2, logprobs: true, top_logprobs: 1,
    });
    assert.equal(completion.choices.length, 2);
    assert.equal(completion.choices[0].message.content, answer);
    assert.equal(completion.choices[1].message.content, `${answer} [1]`);
    for (const choice of completion.choices) {
      const tokens = choice.logprobs.content.map((entry) => entry.token).join('');
      assert.equal(tokens, choice.message.content);
    }
    const runner = openai.chat.completions.stream({ model: 'paris', messages: question, n: 2, logprobs: true });
    const streamed = await runner.finalChatCompletion();
    assert.deepEqual(streamed.choices.map((c) => c.message.content), [answer, `${answer} [1]`]);
    assert.equal(streamed.choices[0].logprobs.content.map((e) => e.token).join(''), answer);
  });

  test('the legacy completions API answers the SDK, whole and streamed', async () => {
    const whole = await openai.completions.create({ model: 'ensemble/capital', prompt: 'What is the capital of France?' });
    assert.equal(whole.object, 'text_completion');
    assert.equal(whole.choices[0].text, answer);
    assert.equal(whole.choices[0].finish_reason, 'stop');
    const stream = await openai.completions.create({ model: 'paris', prompt: 'What is the capital of France?', stream: true });
    const chunks = await collect(stream);
    assert.equal(chunks.map((c) => c.choices[0]?.text ?? '').join(''), answer);
  });

  test('a refusal reaches the SDK as message.refusal, whole and streamed', async () => {
    const words = "I'm very sorry, but I can't assist with that.";
    const completion = await openai.chat.completions.create({ model: 'careful', messages: question });
    assert.equal(completion.choices[0].message.content, null);
    assert.equal(completion.choices[0].message.refusal, words);
    assert.equal(completion.choices[0].finish_reason, 'stop');
    const runner = openai.chat.completions.stream({ model: 'careful', messages: question });
    const streamed = await runner.finalChatCompletion();
    assert.equal(streamed.choices[0].message.refusal, words);
    assert.equal(streamed.choices[0].message.content, null);
  });

  test('an unknown model is a 404 NotFoundError in OpenAI\'s error shape', async () => {
    for (const model of ['no-such-provider', 'ensemble/no-such-ensemble']) {
      await assert.rejects(
        openai.chat.completions.create({ model, messages: question }),
        (err) => {
          assert.ok(err instanceof OpenAI.NotFoundError, `${model}: expected NotFoundError, got ${err}`);
          assertOpenAIError(err, 404);
          return true;
        },
      );
    }
  });

  test('an unknown model asked to stream is a 404 before any chunk', async () => {
    await assert.rejects(
      openai.chat.completions.create({ model: 'no-such-provider', messages: question, stream: true }),
      (err) => {
        assert.ok(err instanceof OpenAI.NotFoundError, `expected NotFoundError, got ${err}`);
        assertOpenAIError(err, 404);
        return true;
      },
    );
  });

  test('a bad request is a 400 BadRequestError in OpenAI\'s error shape', async () => {
    const bad = [
      { model: 'paris', messages: [] },
      { model: 'paris', messages: 'not a list of messages' },
      { messages: question },
    ];
    for (const body of bad) {
      await assert.rejects(openai.chat.completions.create(body), (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, `${JSON.stringify(body)}: expected BadRequestError, got ${err}`);
        assertOpenAIError(err, 400);
        return true;
      });
    }
  });
});

describe('tools and structured output under the OpenAI SDK', () => {
  let openai;
  const tools = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'The weather in a city',
        parameters: {
          type: 'object',
          properties: { city: { type: 'string' }, unit: { type: 'string' } },
          required: ['city', 'unit'],
          additionalProperties: false,
        },
        strict: true,
      },
    },
  ];
  const weatherQuestion = [{ role: 'user', content: 'What is the weather in Paris?' }];

  before(async () => {
    openai = client(await startServe());
  });

  test('a provider answers with the tool call, whole', async () => {
    const completion = await openai.chat.completions.create({
      model: 'weather',
      messages: weatherQuestion,
      tools,
      tool_choice: 'required',
    });
    const choice = completion.choices[0];
    assert.equal(choice.finish_reason, 'tool_calls');
    assert.equal(choice.message.content, null);
    assert.equal(choice.message.tool_calls.length, 1);
    const call = choice.message.tool_calls[0];
    assert.equal(call.type, 'function');
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris', unit: 'celsius' });
  });

  test('the SDK stream helper assembles a streamed tool call', async () => {
    const stream = openai.chat.completions.stream({
      model: 'weather',
      messages: weatherQuestion,
      tools,
    });
    const completion = await stream.finalChatCompletion();
    const call = completion.choices[0].message.tool_calls[0];
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris', unit: 'celsius' });
    assert.equal(completion.choices[0].finish_reason, 'tool_calls');
  });

  test('the tool result goes back and the conversation goes on', async () => {
    const first = await openai.chat.completions.create({ model: 'weather', messages: weatherQuestion, tools });
    const call = first.choices[0].message.tool_calls[0];
    const second = await openai.chat.completions.create({
      model: 'paris',
      messages: [
        ...weatherQuestion,
        first.choices[0].message,
        { role: 'tool', tool_call_id: call.id, content: '18 degrees, sunny' },
      ],
      tools,
    });
    assert.equal(second.choices[0].message.content, answer);
  });

  test('an ensemble votes on the call: the same call spelled two ways agrees', async () => {
    const completion = await openai.chat.completions.create({
      model: 'ensemble/forecast',
      messages: weatherQuestion,
      tools,
    });
    assert.equal(completion.choices[0].message.tool_calls[0].function.name, 'get_weather');
    assert.equal(completion.ensemble.agreement, 1);
    assert.equal(completion.ensemble.votes.length, 1);
  });

  test('a json_schema response_format reaches the SDK\'s parse helper as an object', async () => {
    const completion = await openai.chat.completions.parse({
      model: 'jsonish',
      messages: question,
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'place',
          strict: true,
          schema: {
            type: 'object',
            properties: { city: { type: 'string' }, country: { type: 'string' } },
            required: ['city', 'country'],
            additionalProperties: false,
          },
        },
      },
    });
    assert.deepEqual(completion.choices[0].message.parsed, { city: 'Paris', country: 'France' });
  });

  test('tools for a strategy that writes its own answer are a 400 BadRequestError', async () => {
    await assert.rejects(
      openai.chat.completions.create({
        model: 'ensemble/capital',
        messages: weatherQuestion,
        tools,
        tutti: { combine: 'collect' },
      }),
      (err) => {
        assert.ok(err instanceof OpenAI.BadRequestError, `expected BadRequestError, got ${err}`);
        assert.match(err.message, /combine 'collect' writes an answer of its own/);
        return true;
      },
    );
  });
});

describe('embeddings under the OpenAI SDK', () => {
  let openai;

  before(() => {
    openai = client(fixture.url);
  });

  function norm(vector) {
    return Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
  }

  test('embeddings.create: one vector per input, in order, as the SDK decodes them', async () => {
    // The SDK asks for base64 unless told otherwise and decodes it itself.
    const { data, response } = await openai.embeddings
      .create({ model: 'paris', input: ['Paris', 'Rome', 'Paris'] })
      .withResponse();
    assert.equal(data.object, 'list');
    assert.equal(data.data.length, 3);
    assert.deepEqual(data.data.map((d) => d.index), [0, 1, 2]);
    const [paris, rome, again] = data.data.map((d) => d.embedding);
    assert.ok(paris.length > 0);
    assert.ok(Math.abs(norm(paris) - 1) < 1e-3, 'the fake\'s vectors have length 1');
    assert.deepEqual(again, paris, 'the same text, the same vector');
    assert.notDeepEqual(rome, paris);
    assert.ok(data.usage.prompt_tokens > 0);
    assert.match(response.headers.get('x-tutti-run-id') ?? '', /^run_[0-9a-f]{24}$/);
    // Floats asked for plainly are the same numbers.
    const floats = await openai.embeddings.create({ model: 'paris', input: 'Paris', encoding_format: 'float' });
    assert.equal(floats.data[0].embedding.length, paris.length);
    floats.data[0].embedding.forEach((x, k) => assert.ok(Math.abs(x - paris[k]) < 1e-6));
  });

  test('dimensions are passed on; an ensemble is a 400 BadRequestError', async () => {
    const small = await openai.embeddings.create({ model: 'paris', input: 'Paris', dimensions: 8 });
    assert.equal(small.data[0].embedding.length, 8);
    await assert.rejects(openai.embeddings.create({ model: 'ensemble/capital', input: 'Paris' }), (err) => {
      assertOpenAIError(err, 400);
      assert.match(err.message, /one provider/);
      return true;
    });
  });
});

describe('tutti serve --token under the OpenAI SDK', () => {
  let url;

  before(async () => {
    url = await startServe(['--token', token]);
  });

  test('a wrong key is a 401 AuthenticationError in OpenAI\'s error shape', async () => {
    await assert.rejects(
      client(url, 'sk-wrong').chat.completions.create({ model: 'paris', messages: question }),
      (err) => {
        assert.ok(err instanceof OpenAI.AuthenticationError, `expected AuthenticationError, got ${err}`);
        assertOpenAIError(err, 401);
        assert.ok(!err.message.includes(token), 'the error does not echo the token');
        return true;
      },
    );
  });

  test('the right key gets the answer, whole and streamed', async () => {
    const openai = client(url, token);
    const completion = await openai.chat.completions.create({ model: 'paris', messages: question });
    assert.equal(completion.choices[0].message.content, answer);
    const chunks = await collect(
      await openai.chat.completions.create({ model: 'paris', messages: question, stream: true }),
    );
    assert.equal(deltas(chunks), answer);
  });
});

describe('errors under the SDK\'s own retry rules', () => {
  let url;

  before(async () => {
    url = await startServe();
  });

  /// A client with the SDK's default retries (2) that counts its POSTs.
  function counting() {
    const seen = { posts: 0, headers: [] };
    const openai = new OpenAI({
      baseURL: `${url}/v1`,
      apiKey: 'sk-anything',
      timeout: 20_000,
      fetch: async (input, init) => {
        seen.posts += 1;
        const response = await fetch(input, init);
        seen.headers.push(response.headers);
        return response;
      },
    });
    return { openai, seen };
  }

  test('a provider\'s 429 reaches the SDK as a RateLimitError it retries as it would the vendor\'s', async () => {
    const { openai, seen } = counting();
    await assert.rejects(openai.chat.completions.create({ model: 'limited', messages: question }), (err) => {
      assert.ok(err instanceof OpenAI.RateLimitError, `expected RateLimitError, got ${err}`);
      assertOpenAIError(err, 429);
      assert.equal(err.error.code, 'rate_limited');
      assert.match(err.error.message, /provider 'limited'/);
      return true;
    });
    // tutti answered as the vendor did, Retry-After included: the SDK's
    // own rule (2 retries) applies, after the 200 ms the vendor asked for.
    assert.equal(seen.posts, 3);
    assert.equal(seen.headers[0].get('retry-after-ms'), '200');
    assert.equal(seen.headers[0].get('x-tutti-status'), 'failed');
  });

  test('an ensemble without an answer is one 502 the SDK does not retry', async () => {
    const { openai, seen } = counting();
    await assert.rejects(openai.chat.completions.create({ model: 'ensemble/doomed', messages: question }), (err) => {
      assert.ok(err instanceof OpenAI.InternalServerError, `expected InternalServerError, got ${err}`);
      assertOpenAIError(err, 502);
      assert.equal(err.error.code, 'ensemble_failed');
      return true;
    });
    // tutti retried already: one question is one POST, not three.
    assert.equal(seen.posts, 1);
    assert.equal(seen.headers[0].get('x-should-retry'), 'false');
    assert.equal(seen.headers[0].get('x-tutti-members-failed'), '2');
  });

  test('a whole answer\'s status is in its headers for clients that drop the body', async () => {
    const { openai } = counting();
    const { data, response } = await openai.chat.completions
      .create({ model: 'ensemble/capital', messages: question })
      .withResponse();
    assert.equal(data.choices[0].message.content, answer);
    assert.equal(response.headers.get('x-tutti-status'), 'ok');
    assert.equal(response.headers.get('x-tutti-members-ok'), '2');
    assert.equal(response.headers.get('x-tutti-members-failed'), '0');
    assert.match(response.headers.get('x-tutti-run-id') ?? '', /^run_[0-9a-f]{24}$/);
  });
});
