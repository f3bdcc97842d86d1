// Specification of the control messages: every one survives encodeMessage → FrameDecoder →
// decodeMessage, truncation is MUON_ERR_MALFORMED_FRAME, trailing bytes are ignored, and fields
// appended in a later revision are optional. The stream frames have their own file
// (stream-frames.test.ts); their samples are checked here with the rest.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ErrorCodes } from '../../src/errors.ts';
import { FrameDecoder } from '../../src/protocol/frame-decoder.ts';
import { FRAME_HEADER_SIZE, FrameType, MAX_CONTROL_SIZE } from '../../src/protocol/frame-types.ts';
import {
  dataHeader,
  decodeMessage,
  encodeMessage,
  Features,
  type Message,
} from '../../src/protocol/messages.ts';
import { bytesOf, decodeChunks, expectMuonError, SAMPLE_MESSAGES, sample } from './fixtures.ts';

/** The payload of a single encoded control frame. */
function payloadOf(msg: Message): Buffer {
  return encodeMessage(msg).subarray(FRAME_HEADER_SIZE);
}

function frameWith(type: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_SIZE);
  header[0] = type;
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/**
 * Where the optional block appended to a message after its first release starts (AUTH's and
 * AUTH_OK's features, PROXY_HELLO's mux flag, CONNECT's protocol, PROXY header, public address
 * and idle timeout, and so that of a message inside STREAM): a frame from an older peer ends
 * exactly there.
 */
function optionalBlockAt(msg: Message, payload: Buffer): number | undefined {
  if (msg.type === 'AUTH' || msg.type === 'AUTH_OK') return payload.length - 4;
  if (msg.type === 'PROXY_HELLO') return payload.length - 1;
  if (msg.type === 'CONNECT') {
    return payload.length - (1 + 1 + 2 + Buffer.byteLength(msg.publicAddress) + 4 + RAW_FLAG_SIZE);
  }
  if (msg.type === 'STREAM') {
    const inner = optionalBlockAt(msg.message, payload.subarray(STREAM_HEADER_SIZE));
    return inner === undefined ? undefined : STREAM_HEADER_SIZE + inner;
  }
  return undefined;
}

/** CONNECT's last field, the raw flag (u8), which a server before raw sessions does not send. */
const RAW_FLAG_SIZE = 1;

/** Where a CONNECT (alone or inside STREAM) from a server before raw sessions ends. */
function beforeRawFlag(msg: Message, payload: Buffer): number | undefined {
  const connect = msg.type === 'CONNECT' || (msg.type === 'STREAM' && msg.message.type === 'CONNECT');
  return connect ? payload.length - RAW_FLAG_SIZE : undefined;
}

/** STREAM's payload before the inner message's: the stream id (u32) and the inner type (u8). */
const STREAM_HEADER_SIZE = 4 + 1;

/** The type a truncation error names: the message's, or for STREAM that of the message inside it. */
function truncatedTypes(msg: Message): RegExp {
  return msg.type === 'STREAM' ? new RegExp(`STREAM|${msg.message.type}`) : new RegExp(msg.type);
}

/** Decodes one whole frame through a FrameDecoder and decodeMessage. */
function roundTrip(msg: Message): Message {
  const observed = decodeChunks([encodeMessage(msg)]);
  assert.equal(observed.length, 1);
  const [only] = observed;
  assert.equal(only?.kind, 'message');
  return only.message;
}

describe('every control message', () => {
  test('has a sample here, one for each frame type but DATA and STREAM_DATA', () => {
    const sampled = new Set(SAMPLE_MESSAGES.map((m) => m.type));
    const control = Object.keys(FrameType).filter((name) => name !== 'DATA' && name !== 'STREAM_DATA');
    assert.deepEqual([...sampled].sort(), control.sort());
  });

  for (const msg of SAMPLE_MESSAGES) {
    test(`${msg.type} survives encodeMessage → FrameDecoder → decodeMessage unchanged`, () => {
      assert.deepEqual(roundTrip(msg), msg);
    });
  }

  for (const msg of SAMPLE_MESSAGES) {
    test(`${msg.type} starts with its type byte and the big-endian payload length`, () => {
      const frame = encodeMessage(msg);
      assert.equal(frame[0], FrameType[msg.type]);
      assert.equal(frame.readUInt32BE(1), frame.length - FRAME_HEADER_SIZE);
    });
  }

  for (const msg of SAMPLE_MESSAGES) {
    const full = payloadOf(msg);
    if (full.length === 0) continue;
    test(`${msg.type} cut short at any length is rejected with MUON_ERR_MALFORMED_FRAME`, () => {
      const olderPeerEnd = optionalBlockAt(msg, full);
      for (let length = 0; length < full.length; length++) {
        // Whole frames as older peers send them (below).
        if (length === olderPeerEnd || length === beforeRawFlag(msg, full)) continue;
        const error = expectMuonError(
          () => decodeMessage(FrameType[msg.type], full.subarray(0, length)),
          'MUON_ERR_MALFORMED_FRAME',
        );
        assert.match(error.message, truncatedTypes(msg));
      }
    });
  }

  for (const msg of SAMPLE_MESSAGES) {
    test(`${msg.type} followed by bytes from a newer protocol revision decodes the same`, () => {
      const longer = Buffer.concat([payloadOf(msg), bytesOf(9, 42)]);
      assert.deepEqual(decodeMessage(FrameType[msg.type], longer), msg);
    });
  }
});

describe('fields appended in a later revision', () => {
  test('AUTH without features (an older client) decodes with features 0', () => {
    const full = payloadOf(sample('AUTH'));
    const older = full.subarray(0, optionalBlockAt(sample('AUTH'), full));
    assert.deepEqual(decodeMessage(FrameType.AUTH, older), { ...sample('AUTH'), features: 0 });
  });

  test('AUTH_OK without features (an older server) decodes with features 0', () => {
    const full = payloadOf(sample('AUTH_OK'));
    const older = full.subarray(0, optionalBlockAt(sample('AUTH_OK'), full));
    assert.deepEqual(decodeMessage(FrameType.AUTH_OK, older), { ...sample('AUTH_OK'), features: 0 });
  });

  test('PROXY_HELLO without the mux flag (an older client) decodes as a one-session channel', () => {
    const full = payloadOf(sample('PROXY_HELLO'));
    const older = full.subarray(0, optionalBlockAt(sample('PROXY_HELLO'), full));
    assert.deepEqual(decodeMessage(FrameType.PROXY_HELLO, older), { ...sample('PROXY_HELLO'), mux: false });
  });

  test('AUTH_OK and PROXY_HELLO built without the new fields send them as 0 and false', () => {
    const { features: _features, ...authOk } = sample('AUTH_OK');
    assert.deepEqual(roundTrip(authOk), { ...authOk, features: 0 });
    assert.equal(payloadOf(authOk).length, payloadOf(sample('AUTH_OK')).length);
    const { mux: _mux, ...hello } = sample('PROXY_HELLO');
    assert.deepEqual(roundTrip(hello), { ...hello, mux: false });
    assert.equal(payloadOf(hello).at(-1), 0);
  });

  test('the features of AUTH_OK are all or nothing: part of them is MUON_ERR_MALFORMED_FRAME', () => {
    const full = payloadOf(sample('AUTH_OK'));
    const at = optionalBlockAt(sample('AUTH_OK'), full) ?? 0;
    for (let length = at + 1; length < full.length; length++) {
      expectMuonError(
        () => decodeMessage(FrameType.AUTH_OK, full.subarray(0, length)),
        'MUON_ERR_MALFORMED_FRAME',
      );
    }
  });

  test('a message inside STREAM may end before its optional block, with the same defaults as on its own', () => {
    const msg = sample('STREAM');
    const full = payloadOf(msg);
    const older = full.subarray(0, optionalBlockAt(msg, full));
    assert.deepEqual(decodeMessage(FrameType.STREAM, older), {
      ...msg,
      message: { ...msg.message, protocol: 'tcp', proxyProtocol: null, publicAddress: '', idleTimeoutMs: 0 },
    });
  });

  test('CONNECT without its optional block (an older server) decodes as plain TCP, no PROXY header', () => {
    const full = payloadOf(sample('CONNECT'));
    const older = full.subarray(0, optionalBlockAt(sample('CONNECT'), full));
    assert.deepEqual(decodeMessage(FrameType.CONNECT, older), {
      ...sample('CONNECT'),
      protocol: 'tcp',
      proxyProtocol: null,
      publicAddress: '',
      idleTimeoutMs: 0,
    });
  });

  test('CONNECT without its raw flag (a server before raw sessions) decodes as not raw; with it, raw', () => {
    const full = payloadOf(sample('CONNECT'));
    assert.deepEqual(
      decodeMessage(FrameType.CONNECT, full.subarray(0, full.length - RAW_FLAG_SIZE)),
      sample('CONNECT'),
    );
    const raw = { ...sample('CONNECT'), raw: true };
    assert.deepEqual(decodeMessage(FrameType.CONNECT, payloadOf(raw)), raw);
    assert.equal(payloadOf(raw).length, full.length);
  });

  test('the optional block of CONNECT is all or nothing: one byte of it is MUON_ERR_MALFORMED_FRAME', () => {
    const full = payloadOf(sample('CONNECT'));
    const at = optionalBlockAt(sample('CONNECT'), full) ?? 0;
    expectMuonError(
      () => decodeMessage(FrameType.CONNECT, full.subarray(0, at + 1)),
      'MUON_ERR_MALFORMED_FRAME',
    );
  });

  test('CONNECT: an unknown protocol number or PROXY protocol version is MUON_ERR_MALFORMED_FRAME', () => {
    const full = payloadOf(sample('CONNECT'));
    const at = optionalBlockAt(sample('CONNECT'), full) ?? 0;
    for (const [offset, value] of [
      [at, 0],
      [at, 3],
      [at + 1, 3],
    ] as const) {
      const bad = Buffer.from(full);
      bad[offset] = value;
      expectMuonError(() => decodeMessage(FrameType.CONNECT, bad), 'MUON_ERR_MALFORMED_FRAME');
    }
  });
});

describe('field values', () => {
  test('reach the ends of their ranges', () => {
    const extremes: Message[] = [
      { type: 'PING', seq: 0n },
      { type: 'PONG', seq: 2n ** 64n - 1n },
      { type: 'NEED_CHANNELS', count: 0 },
      { type: 'NEED_CHANNELS', count: 0xffff },
      {
        type: 'AUTH_OK',
        sessionId: Buffer.alloc(16),
        serverProof: Buffer.alloc(32, 0xff),
        heartbeatIntervalMs: 0,
        heartbeatTimeoutMs: 0xffff_ffff,
        mappings: [],
        features: 0xffff_ffff,
      },
      { type: 'PROXY_HELLO', sessionId: Buffer.alloc(16), proof: Buffer.alloc(32), mux: false },
      { type: 'WINDOW', streamId: 0, increment: 0 },
      { type: 'WINDOW', streamId: 0xffff_ffff, increment: 0xffff_ffff },
      { type: 'STREAM', streamId: 0, message: { type: 'CONNECTED' } },
      { type: 'STREAM', streamId: 0xffff_ffff, message: { type: 'END' } },
      { type: 'RESET', streamId: 0xffff_ffff, code: 'MUON_ERR_PEER_ERROR', message: '' },
      {
        type: 'CONNECT',
        visitorId: 0,
        targetHost: '',
        targetPort: 0,
        visitorAddress: '',
        visitorPort: 0,
        publicPort: 0,
        protocol: 'tcp',
        proxyProtocol: null,
        publicAddress: '',
        idleTimeoutMs: 0,
      },
      {
        type: 'CONNECT',
        visitorId: 0xffff_ffff,
        targetHost: 'h'.repeat(253),
        targetPort: 0xffff,
        visitorAddress: 'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255',
        visitorPort: 0xffff,
        publicPort: 0xffff,
        protocol: 'udp',
        proxyProtocol: 'v1',
        publicAddress: 'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255',
        idleTimeoutMs: 0xffff_ffff,
      },
      {
        type: 'AUTH',
        keyId: Buffer.alloc(16),
        clientNonce: Buffer.alloc(32),
        proof: Buffer.alloc(32),
        clientVersion: '',
        minIdleChannels: 0xffff,
        features: 0xffff_ffff,
      },
      { type: 'DISCONNECT', code: 'MUON_ERR_INTERNAL', message: '' },
    ];
    for (const msg of extremes) assert.deepEqual(roundTrip(msg), msg);
  });

  test('strings keep any Unicode text, measured in UTF-8 bytes', () => {
    const message = 'зеркало 鏡 🪞 — ünïcödé';
    const msg: Message = { type: 'ERROR', code: 'MUON_ERR_CONFIG', message };
    assert.deepEqual(roundTrip(msg), msg);
    const payload = payloadOf(msg);
    const codeLength = payload.readUInt16BE(0);
    assert.equal(payload.readUInt16BE(2 + codeLength), Buffer.byteLength(message));
  });

  test('every error code travels in DISCONNECT, KICK, ERROR and RESET', () => {
    for (const code of Object.keys(ErrorCodes) as (keyof typeof ErrorCodes)[]) {
      for (const type of ['DISCONNECT', 'KICK', 'ERROR'] as const) {
        const msg: Message = { type, code, message: `because ${code}` };
        assert.deepEqual(roundTrip(msg), msg);
      }
      const reset: Message = { type: 'RESET', streamId: 9, code, message: `because ${code}` };
      assert.deepEqual(roundTrip(reset), reset);
    }
  });

  test('a control frame can be filled up to MAX_CONTROL_SIZE and not one byte more', () => {
    const code = 'MUON_ERR_SHUTDOWN';
    const longest = 'x'.repeat(MAX_CONTROL_SIZE - 2 - code.length - 2);
    const msg: Message = { type: 'DISCONNECT', code, message: longest };
    assert.equal(payloadOf(msg).length, MAX_CONTROL_SIZE);
    assert.deepEqual(decodeMessage(FrameType.DISCONNECT, payloadOf(msg)), msg);
    assert.throws(() => encodeMessage({ ...msg, message: `${longest}x` }), RangeError);
  });

  test('a string longer than 65535 UTF-8 bytes is refused by the encoder', () => {
    assert.throws(
      () => encodeMessage({ type: 'ERROR', code: 'MUON_ERR_CONFIG', message: 'x'.repeat(0x10000) }),
      RangeError,
    );
  });

  test('nonces, ids and proofs of the wrong size are refused by the encoder', () => {
    assert.throws(() => encodeMessage({ type: 'CHALLENGE', serverNonce: Buffer.alloc(31) }), RangeError);
    assert.throws(() => encodeMessage({ ...sample('AUTH'), keyId: Buffer.alloc(17) }), RangeError);
    assert.throws(() => encodeMessage({ ...sample('AUTH_OK'), serverProof: Buffer.alloc(0) }), RangeError);
    assert.throws(() => encodeMessage({ ...sample('PROXY_HELLO'), sessionId: Buffer.alloc(32) }), RangeError);
  });

  test('decoded byte fields are copies that outlive the payload they came from', () => {
    const payload = Buffer.from(payloadOf(sample('CHALLENGE')));
    const decoded = decodeMessage(FrameType.CHALLENGE, payload);
    payload.fill(0);
    assert.deepEqual(decoded, sample('CHALLENGE'));
  });
});

describe('error codes on the wire', () => {
  for (const type of ['DISCONNECT', 'KICK', 'ERROR'] as const) {
    test(`an unknown code in ${type} decodes as MUON_ERR_PEER_ERROR keeping the code and text`, () => {
      const w = Buffer.concat([str('MUON_ERR_FROM_THE_FUTURE'), str('something new went wrong')]);
      const decoded = decodeMessage(FrameType[type], w);
      assert.equal(decoded.type, type);
      assert.ok('code' in decoded);
      assert.equal(decoded.code, 'MUON_ERR_PEER_ERROR');
      assert.match(decoded.message, /MUON_ERR_FROM_THE_FUTURE/);
      assert.match(decoded.message, /something new went wrong/);
    });
  }

  test('an unknown code in RESET decodes as MUON_ERR_PEER_ERROR keeping the stream, code and text', () => {
    const payload = Buffer.concat([Buffer.from([0, 0, 0, 7]), str('MUON_ERR_FROM_THE_FUTURE'), str('gone')]);
    assert.deepEqual(decodeMessage(FrameType.RESET, payload), {
      type: 'RESET',
      streamId: 7,
      code: 'MUON_ERR_PEER_ERROR',
      message: 'MUON_ERR_FROM_THE_FUTURE: gone',
    });
  });

  test('a code that names an Object property is not taken for a known code', () => {
    const decoded = decodeMessage(FrameType.DISCONNECT, Buffer.concat([str('constructor'), str('x')]));
    assert.ok('code' in decoded);
    assert.equal(decoded.code, 'MUON_ERR_PEER_ERROR');
  });
});

describe('decodeMessage', () => {
  test('rejects DATA and STREAM_DATA, which are not control messages', () => {
    expectMuonError(() => decodeMessage(FrameType.DATA, Buffer.alloc(0)), 'MUON_ERR_MALFORMED_FRAME');
    expectMuonError(
      () => decodeMessage(FrameType.STREAM_DATA, Buffer.from([0, 0, 0, 1])),
      'MUON_ERR_MALFORMED_FRAME',
    );
  });

  test('rejects an unknown frame type', () => {
    expectMuonError(() => decodeMessage(0x7f, Buffer.alloc(0)), 'MUON_ERR_MALFORMED_FRAME');
  });

  test('rejects an AUTH_OK mapping with an unknown protocol number', () => {
    const payload = Buffer.from(payloadOf(sample('AUTH_OK')));
    // The first mapping's protocol byte follows sessionId, proof, two u32 and the u16 count.
    const at = 16 + 32 + 4 + 4 + 2;
    assert.equal(payload[at], 1);
    payload[at] = 9;
    expectMuonError(() => decodeMessage(FrameType.AUTH_OK, payload), 'MUON_ERR_MALFORMED_FRAME');
  });

  test('reads AUTH_OK mapping protocol 1 as tcp and 2 as udp', () => {
    const payload = payloadOf(sample('AUTH_OK'));
    const decoded = decodeMessage(FrameType.AUTH_OK, payload);
    assert.ok(decoded.type === 'AUTH_OK');
    assert.deepEqual(
      decoded.mappings.map((m) => m.protocol),
      ['tcp', 'tcp', 'udp'],
    );
    assert.equal(payload[16 + 32 + 4 + 4 + 2], 1);
  });

  test('rejects an AUTH_OK that announces more mappings than it carries', () => {
    const payload = Buffer.from(payloadOf(sample('AUTH_OK')));
    payload.writeUInt16BE(sample('AUTH_OK').mappings.length + 1, 16 + 32 + 4 + 4);
    expectMuonError(() => decodeMessage(FrameType.AUTH_OK, payload), 'MUON_ERR_MALFORMED_FRAME');
  });

  test('rejects a string whose length prefix runs past the payload', () => {
    const payload = Buffer.concat([str('MUON_ERR_SHUTDOWN'), Buffer.from([0x00, 0x10, 0x41])]);
    expectMuonError(() => decodeMessage(FrameType.KICK, payload), 'MUON_ERR_MALFORMED_FRAME');
  });

  test('decodes the frames a FrameDecoder delivers even when they straddle chunks', () => {
    const decoded: Message[] = [];
    const decoder = new FrameDecoder({
      onFrame: (type, payload) => decoded.push(decodeMessage(type, payload)),
      onData: () => {},
    });
    const stream = Buffer.concat(SAMPLE_MESSAGES.map(encodeMessage));
    for (let at = 0; at < stream.length; at += 13) decoder.push(stream.subarray(at, at + 13));
    assert.deepEqual(decoded, SAMPLE_MESSAGES);
  });

  test('reads the mux flag of PROXY_HELLO from its byte after the proof (1 = multiplexed)', () => {
    const base = Buffer.concat([bytesOf(16, 1), bytesOf(32, 2)]);
    for (const [flag, mux] of [
      [0, false],
      [1, true],
    ] as const) {
      const decoded = decodeMessage(FrameType.PROXY_HELLO, Buffer.concat([base, Buffer.from([flag])]));
      assert.ok(decoded.type === 'PROXY_HELLO');
      assert.equal(decoded.mux, mux);
    }
  });

  test('reads AUTH_OK features from the u32 after the last mapping', () => {
    const payload = Buffer.from(payloadOf(sample('AUTH_OK')));
    payload.writeUInt32BE(Features.MUX | Features.PROXY_PROTOCOL, payload.length - 4);
    const decoded = decodeMessage(FrameType.AUTH_OK, payload);
    assert.ok(decoded.type === 'AUTH_OK');
    assert.equal(decoded.features, Features.MUX | Features.PROXY_PROTOCOL);
    assert.equal(Features.MUX, 0x4);
  });

  test('a frame built by hand from the documented layout decodes', () => {
    // CONNECT: u32 visitor id, str host, u16 port, str visitor address, u16 visitor port, u16 public port.
    const payload = Buffer.concat([
      Buffer.from([0, 0, 0, 5]),
      str('localhost'),
      Buffer.from([0x1f, 0x90]),
      str('203.0.113.9'),
      Buffer.from([0xc3, 0x50]),
      Buffer.from([0x00, 0x50]),
    ]);
    assert.deepEqual(decodeChunks([frameWith(FrameType.CONNECT, payload)]), [
      {
        kind: 'message',
        message: {
          type: 'CONNECT',
          visitorId: 5,
          targetHost: 'localhost',
          targetPort: 8080,
          visitorAddress: '203.0.113.9',
          visitorPort: 50000,
          publicPort: 80,
          protocol: 'tcp',
          proxyProtocol: null,
          publicAddress: '',
          idleTimeoutMs: 0,
        },
      },
    ]);
    // The same with the optional block: u8 protocol (2 = UDP), u8 PROXY protocol (0 = none),
    // str public address, u32 idle timeout.
    const udp = Buffer.concat([payload, Buffer.from([2, 0]), str(''), Buffer.from([0, 0, 0xea, 0x60])]);
    assert.deepEqual(decodeMessage(FrameType.CONNECT, udp), {
      type: 'CONNECT',
      visitorId: 5,
      targetHost: 'localhost',
      targetPort: 8080,
      visitorAddress: '203.0.113.9',
      visitorPort: 50000,
      publicPort: 80,
      protocol: 'udp',
      proxyProtocol: null,
      publicAddress: '',
      idleTimeoutMs: 60_000,
    });
    const withHeader = Buffer.concat([payload, Buffer.from([1, 2]), str('198.51.100.1'), Buffer.alloc(4)]);
    assert.deepEqual(decodeMessage(FrameType.CONNECT, withHeader), {
      type: 'CONNECT',
      visitorId: 5,
      targetHost: 'localhost',
      targetPort: 8080,
      visitorAddress: '203.0.113.9',
      visitorPort: 50000,
      publicPort: 80,
      protocol: 'tcp',
      proxyProtocol: 'v2',
      publicAddress: '198.51.100.1',
      idleTimeoutMs: 0,
    });
  });
});

describe('dataHeader', () => {
  test('is the 5-byte header of a DATA frame of the given length', () => {
    assert.deepEqual([...dataHeader(0x01020304)], [FrameType.DATA, 1, 2, 3, 4]);
    assert.deepEqual([...dataHeader(0)], [FrameType.DATA, 0, 0, 0, 0]);
  });
});

function str(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16BE(bytes.length);
  return Buffer.concat([prefix, bytes]);
}
