// Certificates from ACME against a real authority (Pebble on loopback) and the whole server: a
// domain with `acme` on gets a certificate for its name and its https host names, proved by
// HTTP-01 on the shared HTTP port (even for a force-HTTPS domain); the HTTPS port serves it with
// a chain that verifies against the authority's root; an uploaded one within renewBeforeDays of its
// end is replaced when ACME is switched on, and short-lived ones are renewed when due (half their
// lifetime); a failing order is shown in the API with its error, logged with its code, and
// retried until it succeeds.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { makeCertificate } from '../support/certs.ts';
import { exchange, httpTarget, statusOf } from '../support/http.ts';
import { freePort, waitFor } from '../support/net.ts';
import { findPebble, type Pebble, startPebble, testCaFile } from '../support/pebble.ts';
import { ADMIN_PASSWORD, startRuntime } from '../support/runtime.ts';
import { LogCapture } from '../support/stack.ts';

const PEBBLE = findPebble();
const DAY = 86_400_000;
/** Fast polling and retries; changes looked at almost at once. */
const TUNING = { changeDelayMs: 50, pollMinMs: 100, pollMaxMs: 400, retryMinMs: 300, retryMaxMs: 600 };

interface Setup {
  /** Start no pebble yet: the directory's port, where `startAuthority()` starts it later. */
  directoryPort?: number;
  /** Pebble takes every challenge as valid without fetching it. */
  alwaysValid?: boolean;
  /** The lifetime of pebble's certificates. */
  validitySeconds?: number;
  log?: LogCapture;
}

/** The whole server with HTTP, HTTPS and ACME (pebble), an online client, a target and an admin session. */
async function start(t: TestContext, setup: Setup = {}) {
  const [httpPort, httpsPort] = await Promise.all([freePort(), freePort()]);
  const startAuthority = (port?: number) =>
    startPebble(t, PEBBLE.path as string, {
      httpPort,
      ...(port !== undefined && { port }),
      ...(setup.alwaysValid && { alwaysValid: true }),
      ...(setup.validitySeconds !== undefined && { validitySeconds: setup.validitySeconds }),
    });
  const pebble = setup.directoryPort === undefined ? await startAuthority() : undefined;
  const directoryUrl = pebble?.directoryUrl ?? `https://127.0.0.1:${setup.directoryPort}/dir`;
  const runtime = await startRuntime(
    t,
    [
      `http: { host: 127.0.0.1, port: ${httpPort} }`,
      `https: { host: 127.0.0.1, port: ${httpsPort} }`,
      `acme: { directoryUrl: "${directoryUrl}", email: ops@example.test, caCertificate: ${await testCaFile(t)} }`,
    ],
    {
      acme: TUNING,
      ...(setup.log && { logger: setup.log.logger }),
    },
  );
  const admin = await runtime.login('admin', ADMIN_PASSWORD);
  const target = await httpTarget(t, 'T');
  const license = await runtime.call('POST', '/api/licenses', admin, { name: 'web' });
  const client = runtime.client(license.json.key);
  await once(client, 'online', { signal: AbortSignal.timeout(5000) });
  const domainOf = async (id: number) => (await runtime.call('GET', `/api/domains/${id}`, admin)).json;
  const httpsMapping = (hostnames: string[]) =>
    runtime.call('POST', `/api/licenses/${license.json.id}/mappings`, admin, {
      protocol: 'https',
      hostnames,
      targetHost: '127.0.0.1',
      targetPort: target.port,
    });
  return {
    ...runtime,
    admin,
    pebble,
    startAuthority: () => startAuthority(setup.directoryPort),
    httpPort,
    httpsPort,
    domainOf,
    httpsMapping,
  };
}

/** The leaf's SHA-256 fingerprint as the HTTPS port serves it to `servername`, verified against `ca`. */
async function servedFingerprint(port: number, servername: string, ca: string): Promise<string> {
  const socket = tlsConnect({ host: '127.0.0.1', port, servername, ca });
  await once(socket, 'secureConnect');
  const fingerprint = socket.getPeerCertificate().fingerprint256;
  socket.destroy();
  return fingerprint;
}

const get = (host: string, path = '/') =>
  `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`;

describe('certificates from ACME', { skip: PEBBLE.skip }, () => {
  test('a domain gets its certificate by HTTP-01, and the HTTPS port serves it for its https names', async (t) => {
    const s = await start(t);
    const created = await s.call('POST', '/api/domains', s.admin, {
      name: 'example.test',
      acme: true,
      forceHttps: true,
    });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    assert.equal(created.json.acme, true);
    assert.equal(created.json.acmeStatus.state, 'pending');
    // An exact https name is taken before any certificate exists; a wildcard cannot be proved by HTTP-01.
    assert.equal((await s.httpsMapping(['app.example.test'])).status, 201);
    const wildcard = await s.httpsMapping(['*.wild.example.test']);
    assert.equal(wildcard.status, 400);
    assert.equal(wildcard.json.error.field, 'hostnames');
    assert.match(wildcard.json.error.message, /ACME \(HTTP-01\), which cannot issue wildcard names/);

    let domain = await s.domainOf(created.json.id);
    await waitFor(
      async () => {
        domain = await s.domainOf(created.json.id);
        return domain.acmeStatus.state === 'valid' && domain.certificate?.names.includes('app.example.test');
      },
      10_000,
      'a certificate for example.test and app.example.test',
    );
    assert.match(domain.certificate.issuer, /Pebble/);
    assert.deepEqual(domain.certificate.names.sort(), ['app.example.test', 'example.test']);
    assert.deepEqual(domain.acmeStatus.names, ['example.test', 'app.example.test']);
    assert.deepEqual(domain.acmeStatus.skipped, []);
    assert.equal(domain.acmeStatus.lastError, null);
    assert.equal(domain.acmeStatus.failures, 0);
    assert.equal(
      Date.parse(domain.acmeStatus.renewAfter),
      Date.parse(domain.certificate.notAfter) - 30 * DAY,
      'renewed 30 days (the default) before it ends',
    );
    assert.doesNotMatch(JSON.stringify(domain), /PRIVATE KEY/);
    const output = s.pebble?.output() ?? '';
    assert.match(
      output,
      new RegExp(`http://app\\.example\\.test:${s.httpPort}/\\.well-known/acme-challenge/`),
      'pebble fetched the challenge from the shared HTTP port',
    );

    // The HTTPS port serves it, and its chain verifies against the authority's root.
    const root = await (s.pebble as Pebble).root();
    const answer = await exchange(s.httpsPort, get('app.example.test', '/hello'), {
      servername: 'app.example.test',
      ca: root,
    });
    assert.equal(statusOf(answer), 200);
    assert.match(answer, /T GET \/hello$/);
    assert.equal(
      await servedFingerprint(s.httpsPort, 'app.example.test', root),
      domain.certificate.fingerprint,
    );
    // Plain HTTP for the name still goes to HTTPS: only challenges were answered before routing.
    assert.equal(statusOf(await exchange(s.httpPort, get('app.example.test'))), 308);
    const accounts = await s.runtime.store.db.selectFrom('acme_accounts').selectAll().execute();
    assert.equal(accounts.length, 1, 'one account, created once');
    assert.match(accounts[0]?.account_url ?? '', /^https:\/\/127\.0\.0\.1:/);
    assert.equal(accounts[0]?.email, 'ops@example.test');
  });

  test('an uploaded certificate within renewBeforeDays is replaced when ACME is switched on, and renewed when due', async (t) => {
    // Six-second certificates: each is renewed once half its lifetime has passed.
    const s = await start(t, { alwaysValid: true, validitySeconds: 6 });
    const soon = await makeCertificate(['example.test', 'app.example.test'], {
      notAfter: new Date(Date.now() + 10 * DAY),
    });
    const created = await s.call('POST', '/api/domains', s.admin, {
      name: 'example.test',
      certificate: soon.cert,
      privateKey: soon.key,
    });
    assert.equal(created.json.acme, false);
    assert.equal(created.json.acmeStatus, null, 'no ACME status while certificates are uploaded');
    assert.equal((await s.httpsMapping(['app.example.test'])).status, 201);
    assert.equal(
      await servedFingerprint(s.httpsPort, 'app.example.test', soon.ca),
      created.json.certificate.fingerprint,
    );

    const both = await s.call('PATCH', `/api/domains/${created.json.id}`, s.admin, {
      acme: true,
      certificate: soon.cert,
      privateKey: soon.key,
    });
    assert.equal(both.status, 400, 'an upload and ACME together');
    assert.equal(both.json.error.field, 'certificate');
    assert.equal(
      (await s.call('PATCH', `/api/domains/${created.json.id}`, s.admin, { acme: true })).status,
      200,
    );
    let first = await s.domainOf(created.json.id);
    await waitFor(
      async () => {
        first = await s.domainOf(created.json.id);
        return /Pebble/.test(first.certificate.issuer);
      },
      10_000,
      `the ACME certificate in place of the upload (10 days left < 30) ${JSON.stringify(first)}`,
    );
    const root = await (s.pebble as Pebble).root();
    assert.equal(
      await servedFingerprint(s.httpsPort, 'app.example.test', root),
      first.certificate.fingerprint,
    );
    const lifetime = Date.parse(first.certificate.notAfter) - Date.parse(first.certificate.notBefore);
    assert.equal(
      Date.parse(first.acmeStatus.renewAfter),
      Date.parse(first.certificate.notBefore) + lifetime / 2,
      'a certificate shorter than the window is renewed at half its lifetime',
    );

    // No change comes: the renewal timer alone orders the next one, and the HTTPS port serves it.
    let renewed = first;
    await waitFor(
      async () => {
        renewed = await s.domainOf(created.json.id);
        return renewed.certificate.fingerprint !== first.certificate.fingerprint;
      },
      10_000,
      'the renewed certificate',
    );
    assert.equal(renewed.acmeStatus.state, 'valid');
    assert.ok(Date.parse(renewed.acmeStatus.issuedAt) >= Date.parse(first.acmeStatus.renewAfter));
    await waitFor(
      async () =>
        (await servedFingerprint(s.httpsPort, 'app.example.test', root)) !== first.certificate.fingerprint,
      5000,
      'the renewed certificate on the HTTPS port',
    );

    // Back to uploads: the last ACME certificate stays until another is uploaded.
    const off = await s.call('PATCH', `/api/domains/${created.json.id}`, s.admin, { acme: false });
    assert.equal(off.status, 200);
    assert.equal(off.json.acmeStatus, null);
    assert.match(off.json.certificate.issuer, /Pebble/);
  });

  test('a failing order is shown with its error and code, and retried with backoff until it succeeds', async (t) => {
    const log = new LogCapture();
    const directoryPort = await freePort(); // nothing listens there yet
    const s = await start(t, { directoryPort, alwaysValid: true, log });
    const created = await s.call('POST', '/api/domains', s.admin, { name: 'example.test', acme: true });
    let domain = created.json;
    await waitFor(
      async () => {
        domain = await s.domainOf(created.json.id);
        return domain.acmeStatus.state === 'failed';
      },
      5000,
      'a failed order',
    );
    assert.equal(domain.acmeStatus.lastError.code, 'MUON_ERR_ACME_FAILED');
    assert.match(domain.acmeStatus.lastError.message, /ECONNREFUSED/);
    assert.equal(domain.acmeStatus.failures, 1);
    assert.ok(Date.parse(domain.acmeStatus.retryAt) > Date.parse(domain.acmeStatus.lastError.at));
    assert.equal(domain.certificate, null);
    await waitFor(
      async () => (await s.domainOf(created.json.id)).acmeStatus.failures >= 2,
      5000,
      'a retry that failed too',
    );
    const failed = log.lines
      .map((line) => JSON.parse(line))
      .filter((line) => line.msg === 'ACME order failed');
    assert.ok(failed.length >= 2);
    assert.equal(failed[0].code, 'MUON_ERR_ACME_FAILED');
    assert.equal(failed[0].domain, 'example.test');

    // The authority comes up: the next retry succeeds; the last error stays for reference.
    await s.startAuthority();
    await waitFor(
      async () => {
        domain = await s.domainOf(created.json.id);
        return domain.acmeStatus.state === 'valid';
      },
      10_000,
      'a certificate once the authority is up',
    );
    assert.equal(domain.acmeStatus.failures, 0);
    assert.equal(domain.acmeStatus.retryAt, null);
    assert.match(domain.acmeStatus.lastError.message, /ECONNREFUSED/);
    assert.match(domain.certificate.issuer, /Pebble/);
    assert.doesNotMatch(log.text(), /PRIVATE KEY/, 'no key in the log');
  });
});

test('a server without an ACME authority refuses acme: true', async (t) => {
  const httpPort = await freePort();
  const runtime = await startRuntime(t, [`http: { host: 127.0.0.1, port: ${httpPort} }`]);
  const admin = await runtime.login('admin', ADMIN_PASSWORD);
  const answer = await runtime.call('POST', '/api/domains', admin, { name: 'example.test', acme: true });
  assert.equal(answer.status, 400);
  assert.equal(answer.json.error.field, 'acme');
  assert.match(answer.json.error.message, /acme\.directoryUrl/);
  assert.equal(runtime.runtime.acme, undefined);
});
