// Specification of the handshake cryptography: proofs bind the license key, both nonces and the
// key id or session id, so a wrong key, a replayed handshake or a swapped id fails. The
// known-answer tests recompute each value from the recipe in docs/protocol.md.

import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  clientProof,
  keyIdOf,
  newNonce,
  newSessionId,
  proxyProof,
  sameBytes,
  serverProof,
  sessionKey,
} from '../../src/protocol/handshake.ts';
import { KEY_ID_SIZE, NONCE_SIZE, PROOF_SIZE, SESSION_ID_SIZE } from '../../src/protocol/messages.ts';

const LICENSE = 'mk_live_5f3c9a1e7b2d4c6f8a0e1d3b5c7a9f2e';
const OTHER_LICENSE = 'mk_live_0000000000000000000000000000000';

function handshake(licenseKey = LICENSE) {
  const serverNonce = newNonce();
  const clientNonce = newNonce();
  const sessionId = newSessionId();
  const keyId = keyIdOf(licenseKey);
  return { licenseKey, serverNonce, clientNonce, sessionId, keyId };
}

/** What the server checks on AUTH: it recomputes the proof with the key it has on file. */
function serverAccepts(
  keyOnFile: string,
  serverNonce: Buffer,
  auth: { clientNonce: Buffer; keyId: Buffer; proof: Buffer },
): boolean {
  return sameBytes(auth.proof, clientProof(keyOnFile, serverNonce, auth.clientNonce, auth.keyId));
}

describe('the client proof', () => {
  test('verifies with the license key it was made with', () => {
    const h = handshake();
    const proof = clientProof(LICENSE, h.serverNonce, h.clientNonce, h.keyId);
    assert.equal(proof.length, PROOF_SIZE);
    assert.ok(serverAccepts(LICENSE, h.serverNonce, { ...h, proof }));
  });

  test('fails with a different license key', () => {
    const h = handshake();
    const proof = clientProof(OTHER_LICENSE, h.serverNonce, h.clientNonce, h.keyId);
    assert.ok(!serverAccepts(LICENSE, h.serverNonce, { ...h, proof }));
  });

  test('replayed against a fresh server nonce fails', () => {
    const recorded = handshake();
    const proof = clientProof(LICENSE, recorded.serverNonce, recorded.clientNonce, recorded.keyId);
    const freshServerNonce = newNonce();
    assert.ok(!serverAccepts(LICENSE, freshServerNonce, { ...recorded, proof }));
  });

  test('fails when the client nonce is swapped', () => {
    const h = handshake();
    const proof = clientProof(LICENSE, h.serverNonce, h.clientNonce, h.keyId);
    assert.ok(!serverAccepts(LICENSE, h.serverNonce, { ...h, clientNonce: newNonce(), proof }));
  });

  test('fails under another key id', () => {
    const h = handshake();
    const proof = clientProof(LICENSE, h.serverNonce, h.clientNonce, h.keyId);
    assert.ok(!serverAccepts(LICENSE, h.serverNonce, { ...h, keyId: keyIdOf(OTHER_LICENSE), proof }));
  });

  test('does not confuse the two nonces', () => {
    const h = handshake();
    const proof = clientProof(LICENSE, h.serverNonce, h.clientNonce, h.keyId);
    assert.ok(!sameBytes(proof, clientProof(LICENSE, h.clientNonce, h.serverNonce, h.keyId)));
  });

  test('is HMAC-SHA256 keyed by the license key over the label, server nonce, client nonce and key id', () => {
    const h = handshake();
    const expected = createHmac('sha256', Buffer.from(LICENSE, 'utf8'))
      .update(
        Buffer.concat([Buffer.from('muon/1 client-proof', 'ascii'), h.serverNonce, h.clientNonce, h.keyId]),
      )
      .digest();
    assert.deepEqual(clientProof(LICENSE, h.serverNonce, h.clientNonce, h.keyId), expected);
  });
});

describe('the server proof', () => {
  test('verifies with the license key and the session id it was made with', () => {
    const h = handshake();
    const proof = serverProof(LICENSE, h.serverNonce, h.clientNonce, h.sessionId);
    assert.equal(proof.length, PROOF_SIZE);
    assert.ok(sameBytes(proof, serverProof(LICENSE, h.serverNonce, h.clientNonce, h.sessionId)));
  });

  test('fails from an impostor that does not know the license key', () => {
    const h = handshake();
    const impostor = serverProof(OTHER_LICENSE, h.serverNonce, h.clientNonce, h.sessionId);
    assert.ok(!sameBytes(impostor, serverProof(LICENSE, h.serverNonce, h.clientNonce, h.sessionId)));
  });

  test('replayed from an earlier handshake fails against a fresh client nonce', () => {
    const earlier = handshake();
    const recorded = serverProof(LICENSE, earlier.serverNonce, earlier.clientNonce, earlier.sessionId);
    const fresh = serverProof(LICENSE, earlier.serverNonce, newNonce(), earlier.sessionId);
    assert.ok(!sameBytes(recorded, fresh));
  });

  test('fails for another session id', () => {
    const h = handshake();
    const proof = serverProof(LICENSE, h.serverNonce, h.clientNonce, h.sessionId);
    assert.ok(!sameBytes(proof, serverProof(LICENSE, h.serverNonce, h.clientNonce, newSessionId())));
  });

  test('differs from the client proof and the session key over the same inputs', () => {
    const h = handshake();
    const server = serverProof(LICENSE, h.serverNonce, h.clientNonce, h.sessionId);
    assert.ok(!sameBytes(server, sessionKey(LICENSE, h.serverNonce, h.clientNonce, h.sessionId)));
    assert.ok(!sameBytes(server, clientProof(LICENSE, h.serverNonce, h.clientNonce, h.sessionId)));
  });

  test('is HMAC-SHA256 keyed by the license key over the label, server nonce, client nonce and session id', () => {
    const h = handshake();
    const expected = createHmac('sha256', LICENSE)
      .update('muon/1 server-proof')
      .update(Buffer.concat([h.serverNonce, h.clientNonce, h.sessionId]))
      .digest();
    assert.deepEqual(serverProof(LICENSE, h.serverNonce, h.clientNonce, h.sessionId), expected);
  });
});

describe('the session key and proxy proof', () => {
  test('a proxy proof made with the session key verifies on the server', () => {
    const h = handshake();
    const clientSide = sessionKey(LICENSE, h.serverNonce, h.clientNonce, h.sessionId);
    const serverSide = sessionKey(LICENSE, h.serverNonce, h.clientNonce, h.sessionId);
    const channelNonce = newNonce();
    assert.ok(
      sameBytes(
        proxyProof(clientSide, channelNonce, h.sessionId),
        proxyProof(serverSide, channelNonce, h.sessionId),
      ),
    );
  });

  test('a proxy proof replayed on a new proxy channel, with a fresh nonce, fails', () => {
    const h = handshake();
    const key = sessionKey(LICENSE, h.serverNonce, h.clientNonce, h.sessionId);
    const recorded = proxyProof(key, newNonce(), h.sessionId);
    assert.ok(!sameBytes(recorded, proxyProof(key, newNonce(), h.sessionId)));
  });

  test('a proxy proof from an earlier session of the same license fails', () => {
    const earlier = handshake();
    const now = handshake();
    const channelNonce = newNonce();
    const oldKey = sessionKey(LICENSE, earlier.serverNonce, earlier.clientNonce, earlier.sessionId);
    const newKey = sessionKey(LICENSE, now.serverNonce, now.clientNonce, now.sessionId);
    assert.ok(
      !sameBytes(
        proxyProof(oldKey, channelNonce, now.sessionId),
        proxyProof(newKey, channelNonce, now.sessionId),
      ),
    );
  });

  test('a proxy proof naming another session id fails', () => {
    const h = handshake();
    const key = sessionKey(LICENSE, h.serverNonce, h.clientNonce, h.sessionId);
    const channelNonce = newNonce();
    assert.ok(
      !sameBytes(proxyProof(key, channelNonce, newSessionId()), proxyProof(key, channelNonce, h.sessionId)),
    );
  });

  test('are HMAC-SHA256 values following the documented recipe', () => {
    const h = handshake();
    const channelNonce = newNonce();
    const key = createHmac('sha256', LICENSE)
      .update(Buffer.concat([Buffer.from('muon/1 session-key'), h.serverNonce, h.clientNonce, h.sessionId]))
      .digest();
    assert.deepEqual(sessionKey(LICENSE, h.serverNonce, h.clientNonce, h.sessionId), key);
    const proof = createHmac('sha256', key)
      .update(Buffer.concat([Buffer.from('muon/1 proxy-proof'), channelNonce, h.sessionId]))
      .digest();
    assert.deepEqual(proxyProof(key, channelNonce, h.sessionId), proof);
    assert.equal(proof.length, PROOF_SIZE);
  });
});

describe('keyIdOf', () => {
  test('is 16 bytes', () => {
    assert.equal(KEY_ID_SIZE, 16);
    assert.equal(keyIdOf(LICENSE).length, KEY_ID_SIZE);
    assert.equal(keyIdOf('').length, KEY_ID_SIZE);
  });

  test('is stable: the same license key always gives the same id', () => {
    assert.deepEqual(keyIdOf(LICENSE), keyIdOf(LICENSE));
    assert.deepEqual(keyIdOf(`${LICENSE.slice(0, 10)}${LICENSE.slice(10)}`), keyIdOf(LICENSE));
  });

  test('differs between license keys', () => {
    assert.notDeepEqual(keyIdOf(LICENSE), keyIdOf(OTHER_LICENSE));
    assert.notDeepEqual(keyIdOf('a'), keyIdOf('A'));
  });

  test('is the first 16 bytes of SHA-256 over the label and the UTF-8 license key', () => {
    const key = 'lizenz-schlüssel';
    const digest = createHash('sha256')
      .update(Buffer.from(`muon/1 key-id${key}`, 'utf8'))
      .digest();
    assert.deepEqual(keyIdOf(key), digest.subarray(0, 16));
  });
});

describe('fresh values', () => {
  test('nonces are 32 random bytes, different every time', () => {
    const a = newNonce();
    const b = newNonce();
    assert.equal(a.length, NONCE_SIZE);
    assert.equal(NONCE_SIZE, 32);
    assert.notDeepEqual(a, b);
  });

  test('session ids are 16 random bytes, different every time', () => {
    assert.equal(newSessionId().length, SESSION_ID_SIZE);
    assert.equal(SESSION_ID_SIZE, 16);
    assert.notDeepEqual(newSessionId(), newSessionId());
  });
});

describe('sameBytes', () => {
  test('is true for equal bytes in distinct buffers', () => {
    assert.ok(sameBytes(Buffer.from('abcdef'), Buffer.from('abcdef')));
    assert.ok(sameBytes(Buffer.alloc(0), Buffer.alloc(0)));
  });

  test('is false when one byte differs', () => {
    assert.ok(!sameBytes(Buffer.from('abcdef'), Buffer.from('abcdeg')));
  });

  test('is false, without throwing, when the lengths differ', () => {
    assert.ok(!sameBytes(Buffer.from('abc'), Buffer.from('abcd')));
    assert.ok(!sameBytes(Buffer.alloc(32), Buffer.alloc(31)));
    assert.ok(!sameBytes(Buffer.alloc(0), Buffer.alloc(1)));
  });
});
