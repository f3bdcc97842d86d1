// ACME HTTP-01 on the shared HTTP port, pure parts: which request targets name a challenge token,
// and the decision for them: the key authorization is answered on plain HTTP before anything else
// (whatever the Host, force-HTTPS domains included), a token nobody waits on goes on to the
// mapping as any request, and HTTPS never answers challenges.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChallengeStore } from '../../src/acme/challenge-store.ts';
import { challengeToken } from '../../src/http/acme-challenge.ts';
import { parseRequestHead } from '../../src/http/request-head.ts';
import { decide } from '../../src/http/route-decision.ts';
import { RouteTable } from '../../src/http/route-table.ts';
import { domain, route } from '../support/http.ts';

const head = (text: string) => parseRequestHead(Buffer.from(text, 'latin1'));
const request = (method: string, target: string, host = 'app.secure.test') =>
  head(`${method} ${target} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
const TOKEN = 'LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0';
const KEY_AUTHORIZATION = `${TOKEN}.9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI`;

describe('ACME HTTP-01 challenges', () => {
  test('a challenge token is read from GET and HEAD targets only, and only a base64url one', () => {
    const path = `/.well-known/acme-challenge/${TOKEN}`;
    assert.equal(challengeToken('GET', path), TOKEN);
    assert.equal(challengeToken('HEAD', path), TOKEN);
    assert.equal(challengeToken('GET', `http://app.secure.test:80${path}`), TOKEN);
    for (const [method, target] of [
      ['POST', path],
      ['GET', `${path}?x=1`],
      ['GET', `${path}/more`],
      ['GET', '/.well-known/acme-challenge/'],
      ['GET', '/.well-known/acme-challenge/a.b'],
      ['GET', `/.well-known/acme-challenge/${'a'.repeat(257)}`],
      ['GET', `/x/.well-known/acme-challenge/${TOKEN}`],
      ['GET', `https://app.secure.test${path}`],
    ] as const) {
      assert.equal(challengeToken(method, target), undefined, `${method} ${target}`);
    }
  });

  test('a pending challenge is answered on plain HTTP before force-HTTPS and before routing', () => {
    const table = new RouteTable({
      routes: [route('app.secure.test', 'lab', 'm', 80, { protocol: 'https' })],
      domains: [domain('secure.test', { forceHttps: true })],
    });
    const challenges = new ChallengeStore();
    challenges.set(TOKEN, KEY_AUTHORIZATION);
    const http = { protocol: 'http' as const, serverName: undefined, httpsPort: 443, challenges };
    const path = `/.well-known/acme-challenge/${TOKEN}`;

    for (const host of ['app.secure.test', 'secure.test', 'unknown.elsewhere.test']) {
      const decision = decide(request('GET', path, host), table, http);
      assert.ok(decision.kind === 'challenge', host);
      const text = decision.response.toString('latin1');
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.match(text, /\r\nContent-Type: application\/octet-stream\r\n/);
      assert.match(text, new RegExp(`\\r\\nContent-Length: ${KEY_AUTHORIZATION.length}\\r\\n`));
      assert.ok(text.endsWith(`\r\n\r\n${KEY_AUTHORIZATION}`), 'the body is the key authorization alone');
    }
    const headOnly = decide(request('HEAD', path), table, http);
    assert.ok(headOnly.kind === 'challenge');
    assert.ok(headOnly.response.toString('latin1').endsWith('\r\n\r\n'), 'HEAD: no body');

    // Anything else goes where it would have gone without challenges.
    assert.equal(
      decide(request('GET', '/.well-known/acme-challenge/other-token'), table, http).kind,
      'redirect',
    );
    assert.equal(decide(request('POST', path), table, http).kind, 'redirect');
    challenges.delete(TOKEN);
    assert.equal(decide(request('GET', path), table, http).kind, 'redirect', 'answered only while pending');
    challenges.set(TOKEN, KEY_AUTHORIZATION);
    const https = { protocol: 'https' as const, serverName: 'app.secure.test', httpsPort: 443, challenges };
    assert.equal(decide(request('GET', path), table, https).kind, 'route', 'HTTPS never answers challenges');
    assert.equal(challenges.size, 1);
  });
});
