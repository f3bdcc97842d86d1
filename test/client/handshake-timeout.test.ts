// The client's handshakeTimeout setting: a duration in the client file (10 s by default) that
// bounds each step of setting up a tunnel connection. Against a server that accepts TCP and never
// answers, an attempt gives up after it (MUON_ERR_HANDSHAKE_TIMEOUT) and the client retries; the
// same holds for a stalled TLS handshake and for proxy channels the server never greets.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { type TestContext, test } from 'node:test';
import { CLIENT_DEFAULTS } from '../../src/client/options.ts';
import { TunnelClient } from '../../src/client/tunnel-client.ts';
import { loadClientConfig, toClientOptions } from '../../src/config/client-config.ts';
import { problemsOf, tempFile } from '../config/helpers.ts';
import { listenLocal, type TestServer, waitFor } from '../support/net.ts';
import { KEY, LogCapture, license, startStack } from '../support/stack.ts';

const FP = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89';
const TIMEOUT_MS = 300;
/** Generous against a loaded machine, far below the 10 s default. */
const LATEST_MS = 2500;

/** How long each connection lasted, from the server's accept to the client's giving up. */
interface Lifetimes {
  closed: () => number[];
}

/** Reads `socket` and calls `ended` with its lifetime once the peer ends or drops it. */
function noteEnd(socket: Socket, ended: (ms: number) => void): void {
  const at = Date.now();
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    ended(Date.now() - at);
    socket.destroy();
  };
  // Half-open sockets (listenLocal's): the client's FIN is the end of it.
  socket.once('end', finish);
  socket.once('close', finish);
  socket.resume();
}

/** Accepts connections and never writes a byte; notes how long each stays open. */
async function silentServer(t: TestContext): Promise<TestServer & Lifetimes> {
  const lifetimes: number[] = [];
  const server = await listenLocal((socket) => {
    noteEnd(socket, (ms) => lifetimes.push(ms));
  });
  t.after(() => server.close());
  return Object.assign(server, { closed: () => [...lifetimes] });
}

/** The client options a file with `yaml` gives (server and license from the environment). */
async function optionsFrom(t: TestContext, yaml: string, port: number) {
  const file = await tempFile(t, yaml);
  const config = await loadClientConfig({
    file,
    env: { MUON_SERVER: `127.0.0.1:${port}`, MUON_LICENSE: KEY },
  });
  return toClientOptions(config);
}

function started(t: TestContext, options: Awaited<ReturnType<typeof optionsFrom>>): LogCapture {
  const log = new LogCapture();
  const client = new TunnelClient({ ...options, logger: log.logger });
  t.after(() => client.close());
  client.start();
  return log;
}

function assertBounded(lifetimes: number[]): void {
  for (const ms of lifetimes) {
    // The server may see the accept a moment after the client's connect started its clock.
    assert.ok(ms >= TIMEOUT_MS - 50, `gave up after ${ms} ms, before the ${TIMEOUT_MS} ms timeout`);
    assert.ok(ms < LATEST_MS, `gave up only after ${ms} ms`);
  }
}

/** Log lines of the client's retries, as [code, message]. */
function retries(log: LogCapture): Array<[string | undefined, string]> {
  return log.lines
    .map((l) => JSON.parse(l) as { code?: string; msg?: string })
    .filter((l) => l.msg === 'disconnected; will retry')
    .map((l) => [l.code, l.msg ?? '']);
}

test('handshakeTimeout is a duration, 10s by default, handed to the client', async (t) => {
  const env = { MUON_SERVER: 'h:1', MUON_LICENSE: KEY };
  const byDefault = await loadClientConfig({ file: await tempFile(t, 'plain: true\n'), env });
  assert.equal(byDefault.handshakeTimeout, 10_000);
  assert.equal(toClientOptions(byDefault).handshakeTimeoutMs, CLIENT_DEFAULTS.handshakeTimeoutMs);

  const set = await loadClientConfig({
    file: await tempFile(t, 'plain: true\nhandshakeTimeout: 300ms\n'),
    env,
  });
  assert.equal(set.handshakeTimeout, 300);
  assert.equal(toClientOptions(set).handshakeTimeoutMs, 300);
  const inSeconds = await loadClientConfig({
    file: await tempFile(t, 'plain: true\nhandshakeTimeout: 2s\n'),
    env,
  });
  assert.equal(toClientOptions(inSeconds).handshakeTimeoutMs, 2000);

  for (const [value, problem] of [
    ['0', 'must be at least 1ms'],
    ['soon', 'expected a duration like 500ms, 15s, 2m or 1h (or a number of milliseconds)'],
    ['1000h', 'must be at most 596h'],
  ]) {
    const file = await tempFile(t, `plain: true\nhandshakeTimeout: ${value}\n`);
    assert.deepEqual(
      await problemsOf(loadClientConfig({ file, env })),
      [`handshakeTimeout: ${problem}`],
      value,
    );
  }
});

test('a server that accepts and never answers: each attempt ends after handshakeTimeout, and the client retries', async (t) => {
  const server = await silentServer(t);
  const options = await optionsFrom(
    t,
    `plain: true\nhandshakeTimeout: ${TIMEOUT_MS}ms\nreconnect: { initialDelay: 50ms, maxDelay: 100ms }\n`,
    server.port,
  );
  const log = started(t, options);

  await waitFor(() => server.closed().length >= 3, 5000, 'three attempts to give up');
  assertBounded(server.closed());
  const seen = retries(log);
  assert.ok(seen.length >= 2, `retried: ${JSON.stringify(seen)}`);
  for (const [code] of seen) assert.equal(code, 'MUON_ERR_HANDSHAKE_TIMEOUT');
});

test('over TLS, a server that never answers the TLS handshake is given up on after handshakeTimeout too', async (t) => {
  const server = await silentServer(t);
  const options = await optionsFrom(
    t,
    `tls: { fingerprint: "${FP}" }\nhandshakeTimeout: ${TIMEOUT_MS}ms\nreconnect: { initialDelay: 50ms, maxDelay: 100ms }\n`,
    server.port,
  );
  const log = started(t, options);

  await waitFor(() => server.closed().length >= 2, 5000, 'two attempts to give up');
  assertBounded(server.closed());
  assert.ok(retries(log).length >= 1);
});

test('proxy channels the server never greets give up after handshakeTimeout (MUON_ERR_HANDSHAKE_TIMEOUT)', async (t) => {
  const stack = await startStack(t, [license('lab', KEY, [])]);
  // In front of the server: the first connection (the command channel) goes through, every later
  // one (a proxy channel) is accepted and left without a greeting.
  let first = true;
  const silent: number[] = [];
  const front = await listenLocal((socket) => {
    if (first) {
      first = false;
      const upstream: Socket = connect({ host: '127.0.0.1', port: stack.tunnelPort });
      upstream.on('error', () => socket.destroy());
      socket.pipe(upstream).pipe(socket);
      t.after(() => upstream.destroy());
      return;
    }
    noteEnd(socket, (ms) => silent.push(ms));
  });
  t.after(() => front.close());
  const options = await optionsFrom(
    t,
    `plain: true\nhandshakeTimeout: ${TIMEOUT_MS}ms\npool: { minIdle: 2, mux: false }\n`,
    front.port,
  );
  const log = new LogCapture();
  const client = new TunnelClient({ ...options, logger: log.logger });
  t.after(() => client.close());
  client.start();
  await once(client, 'online', { signal: AbortSignal.timeout(5000) });

  await waitFor(() => silent.length >= 2, 5000, 'both proxy channels to give up');
  assertBounded(silent);
  const failures = log.lines
    .map((l) => JSON.parse(l) as { code?: string; msg?: string })
    .filter((l) => l.msg === 'could not open a proxy channel');
  assert.ok(failures.length >= 2);
  for (const failure of failures) assert.equal(failure.code, 'MUON_ERR_HANDSHAKE_TIMEOUT');
});
