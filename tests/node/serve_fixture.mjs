// The processes every client test in tests/node runs against: the fake
// upstream (tutti-fake-llm, upstream.yaml by default) and `tutti serve`
// (tutti.yaml by default) pointed at it through TUTTI_FAKE_URL, each on
// 127.0.0.1 with a free port it reports in its banner line.
//
//   const fixture = await startFixture();      // fake upstream + one serve
//   const url = fixture.url;                     // http://127.0.0.1:PORT
//   const other = await fixture.serve(['--token', 't']);  // one more serve
//   await fixture.stop();                        // every process it started
//
// The binaries come from the environment, as run_node_test.sh sets it:
// TUTTI_BIN (build/cli/tutti) and TUTTI_FAKE_LLM_BIN
// (build/tools/fake_llm/tutti-fake-llm).

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = dirname(fileURLToPath(import.meta.url));

/// The value of the environment variable `name`; throws when it is unset.
export function requiredEnv(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: the path of the built binary (see tests/node/serve_fixture.mjs)`);
  }
  return value;
}

/// Starts `binary args`, waits (at most 15 s) for the stdout line
/// `<banner> http://HOST:PORT` and resolves to {child, url}. Rejects with
/// the child's stderr when it exits or times out first.
export function startListening(binary, args, env, banner) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    const fail = (why) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${binary} ${args.join(' ')}: ${why}\nstderr:\n${stderr}`));
    };
    const timer = setTimeout(() => fail('no listening line within 15 s'), 15_000);
    child.on('error', (e) => fail(e.message));
    child.on('exit', (code, signal) => fail(`exited (${signal ?? code}) before listening`));
    const lines = createInterface({ input: child.stdout });
    const pattern = new RegExp(`^${banner} (http://\\S+)$`);
    lines.on('line', (line) => {
      const match = pattern.exec(line);
      if (match) {
        clearTimeout(timer);
        child.removeAllListeners('exit');
        resolve({ child, url: match[1] });
      }
    });
  });
}

/// SIGTERM, then SIGKILL after 5 s; resolves once the child is gone.
export function stopChild(child) {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/// Starts the fake upstream on `script` (a path; default upstream.yaml) and
/// resolves to {child, url}, `url` being its OpenAI base (`.../v1`).
export async function startUpstream(script = join(here, 'upstream.yaml')) {
  const fake = await startListening(
    requiredEnv('TUTTI_FAKE_LLM_BIN'),
    ['--script', script, '--port', '0'],
    {},
    'tutti-fake-llm listening on',
  );
  return { child: fake.child, url: `${fake.url}/v1` };
}

/// Starts `tutti serve --config config` on a free loopback port with
/// TUTTI_FAKE_URL set to `upstreamUrl`, plus `extraArgs`; resolves to
/// {child, url}, `url` being the server's root (`http://127.0.0.1:PORT`).
export function startServe(upstreamUrl, { config = join(here, 'tutti.yaml'), extraArgs = [] } = {}) {
  return startListening(
    requiredEnv('TUTTI_BIN'),
    ['serve', '--config', config, '--listen', '127.0.0.1:0', ...extraArgs],
    { TUTTI_FAKE_URL: upstreamUrl },
    'tutti serve listening on',
  );
}

/// The fake upstream and one `tutti serve` in front of it. Resolves to
/// {url, upstreamUrl, serve(extraArgs), stop()}: `url` is the first
/// server's root, `serve` starts another server on the same upstream and
/// config (resolving to its root), and `stop` ends every process started.
/// If anything fails to start, what did start is stopped before the error
/// is thrown.
export async function startFixture({ script, config, serveArgs = [] } = {}) {
  const children = [];
  const stop = () => Promise.all(children.splice(0).map(stopChild));
  try {
    const upstream = await startUpstream(script);
    children.push(upstream.child);
    const serve = async (extraArgs = []) => {
      const server = await startServe(upstream.url, { config, extraArgs });
      children.push(server.child);
      return server.url;
    };
    const url = await serve(serveArgs);
    return { url, upstreamUrl: upstream.url, serve, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
