// The PROXY protocol towards the target, end to end on loopback: with `proxyProtocol: 'v1'` or
// 'v2' on a TCP mapping, the target first reads a header naming the visitor's real address and
// port (and the public address and port it reached), then the visitor's bytes unchanged. A
// strict parser (test/support) reads the header as any receiver would, over IPv4 and IPv6.

import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import type { MappingRecord } from '../../src/server/directory.ts';
import { freePort, listenLocal, type TestServer, waitFor } from '../support/net.ts';
import { type ParsedProxyHeader, parseProxyHeader } from '../support/proxy-header-parser.ts';
import { KEY, license, startStack } from '../support/stack.ts';

type TestContext = Parameters<typeof startStack>[0];

/** A target that reads a PROXY header first, records it, then echoes the connection's own bytes. */
async function headerReadingEcho(
  t: TestContext,
): Promise<TestServer & { headers: ParsedProxyHeader[]; errors: string[] }> {
  const headers: ParsedProxyHeader[] = [];
  const errors: string[] = [];
  const server = await listenLocal((socket) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      let header: ParsedProxyHeader | undefined;
      try {
        header = parseProxyHeader(buffered);
      } catch (error) {
        errors.push((error as Error).message);
        socket.destroy();
        return;
      }
      if (!header) return;
      headers.push(header);
      socket.off('data', onData);
      socket.write(buffered.subarray(header.length));
      socket.pipe(socket);
    };
    socket.on('data', onData);
  });
  t.after(() => server.close());
  return Object.assign(server, { headers, errors });
}

/** Connects to the public port (from `from`), sends `text`, resolves with the echo and the socket's own address. */
function visit(
  port: number,
  text: string,
  options: { host?: string; from?: string } = {},
): Promise<{ echoed: string; local: { address: string; port: number } }> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect({
      host: options.host ?? '127.0.0.1',
      port,
      ...(options.from && { localAddress: options.from }),
    });
    let got = '';
    const timer = setTimeout(() => reject(new Error(`no echo, got "${got}"`)), 3000);
    socket.on('error', reject);
    socket.on('connect', () => socket.write(text));
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString();
      if (got.length < text.length) return;
      clearTimeout(timer);
      const local = { address: socket.localAddress ?? '', port: socket.localPort ?? 0 };
      socket.destroy();
      resolve({ echoed: got, local });
    });
  });
}

async function lab(t: TestContext, mapping: Partial<MappingRecord>, publicHost = '127.0.0.1') {
  const target = await headerReadingEcho(t);
  const port = await freePort();
  const record = license('lab', KEY, [{ publicPort: port, targetPort: target.port, ...mapping }]);
  const stack = await startStack(t, [record], { server: { publicHost } });
  await stack.onlineClient(KEY);
  return { target, port, stack, record };
}

describe('PROXY protocol towards the target', () => {
  for (const version of ['v1', 'v2'] as const) {
    test(`${version}: the target sees the visitor's real address and port, then its bytes unchanged`, async (t) => {
      const { target, port } = await lab(t, { proxyProtocol: version });
      const first = await visit(port, 'hello through the tunnel', { from: '127.0.0.2' });
      const second = await visit(port, 'and again', { from: '127.0.0.1' });
      assert.equal(first.echoed, 'hello through the tunnel');
      assert.equal(second.echoed, 'and again');
      assert.deepEqual(target.errors, []);
      assert.deepEqual(target.headers, [
        {
          version: version === 'v1' ? 1 : 2,
          family: 'TCP4',
          source: { address: '127.0.0.2', port: first.local.port },
          destination: { address: '127.0.0.1', port },
          length: target.headers[0]?.length,
        },
        {
          version: version === 'v1' ? 1 : 2,
          family: 'TCP4',
          source: { address: '127.0.0.1', port: second.local.port },
          destination: { address: '127.0.0.1', port },
          length: target.headers[1]?.length,
        },
      ]);
    });

    test(`${version}: an IPv6 visitor is described as TCP over IPv6`, async (t) => {
      const { target, port } = await lab(t, { proxyProtocol: version }, '::1');
      const { echoed, local } = await visit(port, 'v6', { host: '::1' });
      assert.equal(echoed, 'v6');
      const [header] = target.headers;
      assert.equal(header?.family, 'TCP6');
      assert.equal(header?.source?.port, local.port);
      assert.equal(header?.destination?.port, port);
      // v1 writes ::1 compressed; the test parser prints v2's 16 bytes group by group.
      assert.ok(['::1', '0:0:0:0:0:0:0:1'].includes(header?.source?.address ?? ''), header?.source?.address);
    });
  }

  test('without the option the target reads the visitor bytes first; turning it on applies to the next visitor', async (t) => {
    const connections: Buffer[][] = [];
    const recorder = await listenLocal((socket) => {
      const chunks: Buffer[] = [];
      connections.push(chunks);
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    });
    t.after(() => recorder.close());
    const port = await freePort();
    const record = license('lab', KEY, [{ publicPort: port, targetPort: recorder.port }]);
    const stack = await startStack(t, [record]);
    await stack.onlineClient(KEY);
    const received = (n: number) => Buffer.concat(connections[n] ?? []).toString('latin1');
    const send = (text: string) => {
      const socket = connect({ host: '127.0.0.1', port }, () => socket.end(text));
      socket.on('error', () => {});
      t.after(() => socket.destroy());
    };

    send('GET /');
    await waitFor(() => received(0) === 'GET /', 3000, 'the first connection');
    stack.directory.update({
      ...record,
      mappings: record.mappings.map((m) => ({ ...m, proxyProtocol: 'v1' })),
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    send('GET /');
    await waitFor(() => received(1).endsWith('GET /'), 3000, 'the second connection');
    assert.match(received(1), /^PROXY TCP4 127\.0\.0\.1 127\.0\.0\.1 \d+ \d+\r\nGET \/$/);
  });
});
