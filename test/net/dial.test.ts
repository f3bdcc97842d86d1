import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { type AddressInfo, createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, type TestContext, test } from 'node:test';
import { createServer as createTlsServer, TLSSocket, type TlsOptions } from 'node:tls';
import { MuonError } from '../../src/errors.ts';
import { dialTunnel } from '../../src/net/dial.ts';
import { loadOrCreateTlsIdentity, type TlsIdentity } from '../../src/net/tls-identity.ts';
import { loadX509 } from '../support/x509.ts';

const TIMEOUT_MS = 5_000;
const WRONG_FINGERPRINT = Array(32).fill('AB').join(':');

interface TestServer {
  port: number;
  /** Application bytes received, over all connections. */
  received: () => number;
  /** Resolves when the next accepted connection has closed. */
  nextClosed: () => Promise<void>;
}

/** TLS server on 127.0.0.1:0 that echoes what it reads and counts the bytes. */
async function tlsServer(t: TestContext, options: TlsOptions): Promise<TestServer> {
  return listen(t, createTlsServer(options), 'secureConnection');
}

/** Plain TCP echo server on 127.0.0.1:0. */
async function tcpServer(t: TestContext): Promise<TestServer> {
  return listen(t, createTcpServer(), 'connection');
}

async function listen(t: TestContext, server: Server, dataEvent: string): Promise<TestServer> {
  let received = 0;
  // Raw TCP connections, tracked apart from TLS ones: a handshake that fails never becomes one.
  const sockets = new Set<Socket>();
  const waiters: (() => void)[] = [];
  server.on('tlsClientError', () => {});
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    const waiter = waiters.shift();
    socket.on('error', () => {});
    socket.on('close', () => {
      sockets.delete(socket);
      waiter?.();
    });
  });
  server.on(dataEvent, (socket: Socket) => {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      socket.write(chunk);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
    await once(server, 'close');
  });
  return {
    port: (server.address() as AddressInfo).port,
    received: () => received,
    nextClosed: () => new Promise((resolve) => waiters.push(resolve)),
  };
}

/** Registers the dialled socket for cleanup and checks it echoes application data. */
async function assertEchoes(t: TestContext, socket: Socket): Promise<void> {
  t.after(() => socket.destroy());
  socket.on('error', () => {});
  socket.write('ping');
  const [chunk] = (await once(socket, 'data')) as [Buffer];
  assert.equal(chunk.toString(), 'ping');
}

function hasCode(code: string, pattern?: RegExp) {
  return (error: unknown) =>
    error instanceof MuonError &&
    error.code === code &&
    (pattern === undefined || pattern.test(error.message));
}

/** A port nobody listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createTcpServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

interface Ca {
  cert: string;
  issue: (names: { type: 'dns' | 'ip'; value: string }[]) => Promise<{ cert: string; key: string }>;
}

async function createCa(name: string): Promise<Ca> {
  const x509 = await loadX509();
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
  const signing = { name: 'ECDSA', hash: 'SHA-256' };
  const caKeys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 24 * 3600_000);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      name: `CN=${name}`,
      keys: caKeys,
      notBefore,
      notAfter,
      signingAlgorithm: signing,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, webcrypto),
      ],
    },
    webcrypto,
  );
  return {
    cert: caCert.toString('pem'),
    issue: async (names) => {
      const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
      const leaf = await x509.X509CertificateGenerator.create(
        {
          subject: 'CN=muon-test-leaf',
          issuer: caCert.subject,
          publicKey: keys.publicKey,
          signingKey: caKeys.privateKey,
          notBefore,
          notAfter,
          signingAlgorithm: signing,
          extensions: [
            new x509.BasicConstraintsExtension(false, undefined, true),
            new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
            new x509.SubjectAlternativeNameExtension(names),
            await x509.AuthorityKeyIdentifierExtension.create(caCert, false, webcrypto),
          ],
        },
        webcrypto,
      );
      const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', keys.privateKey);
      return { cert: leaf.toString('pem'), key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') };
    },
  };
}

let identity: TlsIdentity;

before(async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'muon-dial-'));
  try {
    identity = await loadOrCreateTlsIdentity({ dataDir });
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
});

describe('dialTunnel with a pinned fingerprint', () => {
  test('connects to the server holding the pinned certificate', async (t) => {
    const server = await tlsServer(t, { cert: identity.cert, key: identity.key });
    const socket = await dialTunnel({
      host: '127.0.0.1',
      port: server.port,
      tls: { fingerprint: identity.fingerprint },
      timeoutMs: TIMEOUT_MS,
    });
    assert.ok(socket instanceof TLSSocket);
    assert.equal(socket.getProtocol(), 'TLSv1.3');
    await assertEchoes(t, socket);
  });

  test('accepts the fingerprint in bare lower-case hex with a sha256: prefix', async (t) => {
    const server = await tlsServer(t, { cert: identity.cert, key: identity.key });
    const fingerprint = `sha256:${identity.fingerprint.replaceAll(':', '').toLowerCase()}`;
    const socket = await dialTunnel({
      host: '127.0.0.1',
      port: server.port,
      tls: { fingerprint },
      timeoutMs: TIMEOUT_MS,
    });
    await assertEchoes(t, socket);
  });

  test('a different certificate is refused before any application byte is sent', async (t) => {
    const server = await tlsServer(t, { cert: identity.cert, key: identity.key });
    const closed = server.nextClosed();
    const sessions: Buffer[] = [];
    await assert.rejects(
      dialTunnel({
        host: '127.0.0.1',
        port: server.port,
        tls: { fingerprint: WRONG_FINGERPRINT },
        timeoutMs: TIMEOUT_MS,
        onSession: (session) => sessions.push(session),
      }),
      (error: unknown) => {
        assert.ok(hasCode('MUON_ERR_FINGERPRINT_MISMATCH')(error));
        const { message } = error as MuonError;
        assert.ok(message.includes(identity.fingerprint), 'names the presented fingerprint');
        assert.ok(message.includes(WRONG_FINGERPRINT), 'names the pinned fingerprint');
        return true;
      },
    );
    await closed;
    assert.equal(server.received(), 0, 'the server saw no application data');
    assert.equal(sessions.length, 0, 'no session from an unverified server');
  });

  test('TLS 1.2 servers are accepted; a refused server’s tickets never reach onSession', async (t) => {
    const server = await tlsServer(t, { cert: identity.cert, key: identity.key, maxVersion: 'TLSv1.2' });
    const refused: Buffer[] = [];
    await assert.rejects(
      dialTunnel({
        host: '127.0.0.1',
        port: server.port,
        tls: { fingerprint: WRONG_FINGERPRINT },
        timeoutMs: TIMEOUT_MS,
        onSession: (session) => refused.push(session),
      }),
      hasCode('MUON_ERR_FINGERPRINT_MISMATCH'),
    );
    assert.equal(refused.length, 0);

    const sessions: Buffer[] = [];
    const socket = await dialTunnel({
      host: '127.0.0.1',
      port: server.port,
      tls: { fingerprint: identity.fingerprint },
      timeoutMs: TIMEOUT_MS,
      onSession: (session) => sessions.push(session),
    });
    assert.equal((socket as TLSSocket).getProtocol(), 'TLSv1.2');
    await assertEchoes(t, socket);
    assert.ok(sessions.length > 0);
  });

  test('a malformed fingerprint is a config error and opens no connection', async (t) => {
    const server = await tlsServer(t, { cert: identity.cert, key: identity.key });
    await assert.rejects(
      dialTunnel({
        host: '127.0.0.1',
        port: server.port,
        tls: { fingerprint: 'AB:CD' },
        timeoutMs: TIMEOUT_MS,
      }),
      hasCode('MUON_ERR_CONFIG'),
    );
  });
});

describe('dialTunnel with a CA', () => {
  let ca: Ca;
  let otherCa: Ca;
  let leaf: { cert: string; key: string };

  before(async () => {
    ca = await createCa('Muon Test CA');
    otherCa = await createCa('Some Other CA');
    leaf = await ca.issue([
      { type: 'dns', value: 'localhost' },
      { type: 'ip', value: '127.0.0.1' },
    ]);
  });

  test('verifies a CA-signed certificate against the host address', async (t) => {
    const server = await tlsServer(t, leaf);
    const socket = await dialTunnel({
      host: '127.0.0.1',
      port: server.port,
      tls: { ca: ca.cert },
      timeoutMs: TIMEOUT_MS,
    });
    assert.equal((socket as TLSSocket).authorized, true);
    await assertEchoes(t, socket);
  });

  test('verifies against an explicit servername', async (t) => {
    const server = await tlsServer(t, leaf);
    const socket = await dialTunnel({
      host: '127.0.0.1',
      port: server.port,
      tls: { ca: ca.cert, servername: 'localhost' },
      timeoutMs: TIMEOUT_MS,
    });
    assert.equal((socket as TLSSocket).authorized, true);
    await assertEchoes(t, socket);
  });

  test('a certificate from another CA fails with MUON_ERR_TLS and the reason', async (t) => {
    const server = await tlsServer(t, leaf);
    await assert.rejects(
      dialTunnel({ host: '127.0.0.1', port: server.port, tls: { ca: otherCa.cert }, timeoutMs: TIMEOUT_MS }),
      hasCode('MUON_ERR_TLS', /UNABLE_TO_VERIFY_LEAF_SIGNATURE/),
    );
    assert.equal(server.received(), 0);
  });

  test('a certificate for another name fails with MUON_ERR_TLS', async (t) => {
    const server = await tlsServer(t, leaf);
    await assert.rejects(
      dialTunnel({
        host: '127.0.0.1',
        port: server.port,
        tls: { ca: ca.cert, servername: 'tunnel.example.com' },
        timeoutMs: TIMEOUT_MS,
      }),
      hasCode('MUON_ERR_TLS', /ERR_TLS_CERT_ALTNAME_INVALID/),
    );
  });

  test('the generated self-signed certificate can serve as its own CA', async (t) => {
    const server = await tlsServer(t, { cert: identity.cert, key: identity.key });
    const socket = await dialTunnel({
      host: '127.0.0.1',
      port: server.port,
      tls: { ca: identity.cert, servername: 'localhost' },
      timeoutMs: TIMEOUT_MS,
    });
    await assertEchoes(t, socket);
  });

  test('CA and fingerprint together must both hold', async (t) => {
    const server = await tlsServer(t, leaf);
    await assert.rejects(
      dialTunnel({
        host: '127.0.0.1',
        port: server.port,
        tls: { ca: ca.cert, fingerprint: WRONG_FINGERPRINT },
        timeoutMs: TIMEOUT_MS,
      }),
      hasCode('MUON_ERR_FINGERPRINT_MISMATCH'),
    );
  });
});

describe('dialTunnel session resumption', () => {
  async function firstSession(port: number, tls: { fingerprint: string } | { ca: string }): Promise<Buffer> {
    const sessions: Buffer[] = [];
    const { promise, resolve } = Promise.withResolvers<void>();
    const socket = await dialTunnel({
      host: '127.0.0.1',
      port,
      tls,
      timeoutMs: TIMEOUT_MS,
      onSession: (session) => {
        sessions.push(session);
        resolve();
      },
    });
    socket.on('error', () => {});
    await promise; // TLS 1.3 tickets arrive after the handshake
    socket.destroy();
    const session = sessions.at(-1);
    assert.ok(session);
    return session;
  }

  test('a second dial with the first one’s session resumes it (pinned)', async (t) => {
    const server = await tlsServer(t, { cert: identity.cert, key: identity.key });
    const tls = { fingerprint: identity.fingerprint };
    const session = await firstSession(server.port, tls);
    const socket = await dialTunnel({
      host: '127.0.0.1',
      port: server.port,
      tls,
      timeoutMs: TIMEOUT_MS,
      session,
    });
    assert.equal((socket as TLSSocket).isSessionReused(), true);
    await assertEchoes(t, socket);
  });

  test('a second dial with the first one’s session resumes it (CA)', async (t) => {
    const ca = await createCa('Resumption CA');
    const server = await tlsServer(t, await ca.issue([{ type: 'ip', value: '127.0.0.1' }]));
    const tls = { ca: ca.cert };
    const session = await firstSession(server.port, tls);
    const socket = await dialTunnel({
      host: '127.0.0.1',
      port: server.port,
      tls,
      timeoutMs: TIMEOUT_MS,
      session,
    });
    assert.equal((socket as TLSSocket).isSessionReused(), true);
    await assertEchoes(t, socket);
  });

  test('a session is not offered to a dial that verifies differently', async (t) => {
    const server = await tlsServer(t, { cert: identity.cert, key: identity.key });
    const session = await firstSession(server.port, { fingerprint: identity.fingerprint });
    // The pin is what a resumed handshake cannot re-check: a changed pin forces a full handshake.
    await assert.rejects(
      dialTunnel({
        host: '127.0.0.1',
        port: server.port,
        tls: { fingerprint: WRONG_FINGERPRINT },
        timeoutMs: TIMEOUT_MS,
        session,
      }),
      hasCode('MUON_ERR_FINGERPRINT_MISMATCH'),
    );
    const copy = await dialTunnel({
      host: '127.0.0.1',
      port: server.port,
      tls: { fingerprint: identity.fingerprint },
      timeoutMs: TIMEOUT_MS,
      session: Buffer.from(session),
    });
    assert.equal((copy as TLSSocket).isSessionReused(), false, 'a copied buffer is not trusted');
    await assertEchoes(t, copy);
  });
});

describe('dialTunnel over plain TCP and on failures', () => {
  test('plain TCP dial resolves with a connected socket', async (t) => {
    const server = await tcpServer(t);
    const socket = await dialTunnel({
      host: '127.0.0.1',
      port: server.port,
      tls: false,
      timeoutMs: TIMEOUT_MS,
    });
    assert.ok(!(socket instanceof TLSSocket));
    assert.equal(socket.remotePort, server.port);
    await assertEchoes(t, socket);
  });

  test('leaves none of its listeners on the resolved socket', async (t) => {
    const server = await tcpServer(t);
    const socket = await dialTunnel({
      host: '127.0.0.1',
      port: server.port,
      tls: false,
      timeoutMs: TIMEOUT_MS,
    });
    t.after(() => socket.destroy());
    assert.equal(socket.listenerCount('error'), 0);
    assert.equal(socket.listenerCount('connect'), 0);
    assert.equal(socket.listenerCount('timeout'), 0);

    const tlsServerForCount = await tlsServer(t, { cert: identity.cert, key: identity.key });
    const secure = await dialTunnel({
      host: '127.0.0.1',
      port: tlsServerForCount.port,
      tls: { fingerprint: identity.fingerprint },
      timeoutMs: TIMEOUT_MS,
    });
    t.after(() => secure.destroy());
    for (const event of ['error', 'connect', 'secureConnect', 'session']) {
      assert.equal(secure.listenerCount(event), 0, event);
    }
  });

  test('a refused connection rejects with Node’s ECONNREFUSED (plain and TLS)', async () => {
    const port = await closedPort();
    for (const tls of [false, { fingerprint: identity.fingerprint }] as const) {
      await assert.rejects(
        dialTunnel({ host: '127.0.0.1', port, tls, timeoutMs: TIMEOUT_MS }),
        (error: unknown) => {
          assert.ok(!(error instanceof MuonError));
          assert.equal((error as NodeJS.ErrnoException).code, 'ECONNREFUSED');
          return true;
        },
      );
    }
  });

  test('a server that does not speak TLS fails with MUON_ERR_TLS', async (t) => {
    const server = createTcpServer((socket) => {
      socket.on('error', () => {});
      socket.end('SSH-2.0-OpenSSH_9.6\r\n');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    await assert.rejects(
      dialTunnel({
        host: '127.0.0.1',
        port: (server.address() as AddressInfo).port,
        tls: { fingerprint: identity.fingerprint },
        timeoutMs: TIMEOUT_MS,
      }),
      hasCode('MUON_ERR_TLS', /wrong version number/i),
    );
  });

  test('a TLS handshake that never completes times out with MUON_ERR_HANDSHAKE_TIMEOUT', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const sockets: Socket[] = [];
    const accepted = Promise.withResolvers<void>();
    const server = createTcpServer((socket) => {
      sockets.push(socket);
      socket.resume(); // reads the ClientHello, never answers it
      accepted.resolve();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => {
      for (const socket of sockets) socket.destroy();
      server.close();
    });
    const dialling = dialTunnel({
      host: '127.0.0.1',
      port: (server.address() as AddressInfo).port,
      tls: { fingerprint: identity.fingerprint },
      timeoutMs: 2_000,
    });
    await accepted.promise;
    // The client's side of the TCP connection is up once its 'connect' has run (a turn or two).
    for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve));
    const [serverSide] = sockets;
    assert.ok(serverSide);
    const closed = once(serverSide, 'close');
    t.mock.timers.tick(2_000);
    await assert.rejects(dialling, (error: unknown) => {
      assert.ok(error instanceof MuonError);
      assert.equal(error.code, 'MUON_ERR_HANDSHAKE_TIMEOUT');
      assert.match(error.message, /TLS handshake with 127\.0\.0\.1:\d+ did not finish within 2000 ms/);
      return true;
    });
    await closed; // the attempt was torn down, not left open
  });

  test('an abort signal cancels the attempt', async (t) => {
    const server = await tlsServer(t, { cert: identity.cert, key: identity.key });
    const controller = new AbortController();
    const dialling = dialTunnel({
      host: '127.0.0.1',
      port: server.port,
      tls: { fingerprint: identity.fingerprint },
      timeoutMs: TIMEOUT_MS,
      signal: controller.signal,
    });
    controller.abort();
    await assert.rejects(dialling, { name: 'AbortError' });
    await assert.rejects(
      dialTunnel({
        host: '127.0.0.1',
        port: server.port,
        tls: false,
        timeoutMs: TIMEOUT_MS,
        signal: controller.signal,
      }),
      { name: 'AbortError' },
    );
  });

  test('TLS options with neither fingerprint nor CA are a config error', async () => {
    await assert.rejects(
      dialTunnel({ host: '127.0.0.1', port: 1, tls: {}, timeoutMs: TIMEOUT_MS }),
      hasCode('MUON_ERR_CONFIG', /fingerprint.*CA/),
    );
  });
});
