// Properties of the codec over generated input: any sequence of messages, DATA and STREAM_DATA
// frames, cut into any chunks, decodes to what was encoded; any garbage yields only MuonError.
// Each property is bounded in runs and in time so the file stays fast.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type ErrorCode, ErrorCodes, MuonError } from '../../src/errors.ts';
import { FrameDecoder, type FrameSink } from '../../src/protocol/frame-decoder.ts';
import { FRAME_HEADER_SIZE, FrameType, PREAMBLE } from '../../src/protocol/frame-types.ts';
import {
  decodeMessage,
  KEY_ID_SIZE,
  type Message,
  NONCE_SIZE,
  PROOF_SIZE,
  SESSION_ID_SIZE,
  type StreamMessage,
} from '../../src/protocol/messages.ts';
import { decodeChunks, encodeStream, expectedObservations, type StreamItem, splitAt } from './fixtures.ts';

const LIMITS = { numRuns: 1000, interruptAfterTimeLimit: 2000 } as const;

const bytes = (size: number) =>
  fc.uint8Array({ minLength: size, maxLength: size }).map((b) => Buffer.from(b));
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffff_ffff });
const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
// Whole code points only: a lone surrogate cannot be represented in UTF-8 and would come back as U+FFFD.
const text = fc.string({ unit: 'binary', maxLength: 40 });
const code = fc.constantFrom(...(Object.keys(ErrorCodes) as ErrorCode[]));

/** Plain objects, as decodeMessage builds them (fc.record's default null prototype would differ). */
function record<T>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model, { noNullPrototype: true });
}

const mapping = record({
  protocol: fc.constantFrom('tcp' as const, 'udp' as const),
  publicPort: u16,
  targetHost: text,
  targetPort: u16,
});

/** The session messages, which travel on a channel of their own or inside STREAM. */
const sessionMessage: fc.Arbitrary<StreamMessage> = fc.oneof(
  record({
    type: fc.constant('CONNECT' as const),
    visitorId: u32,
    targetHost: text,
    targetPort: u16,
    visitorAddress: text,
    visitorPort: u16,
    publicPort: u16,
    protocol: fc.constantFrom('tcp' as const, 'udp' as const),
    proxyProtocol: fc.constantFrom(null, 'v1' as const, 'v2' as const),
    publicAddress: text,
    idleTimeoutMs: u32,
  }),
  record({ type: fc.constantFrom('CONNECTED' as const, 'END' as const) }),
  record({ type: fc.constant('DISCONNECT' as const), code, message: text }),
);

const message: fc.Arbitrary<Message> = fc.oneof(
  record({ type: fc.constant('CHALLENGE' as const), serverNonce: bytes(NONCE_SIZE) }),
  record({
    type: fc.constant('AUTH' as const),
    keyId: bytes(KEY_ID_SIZE),
    clientNonce: bytes(NONCE_SIZE),
    proof: bytes(PROOF_SIZE),
    clientVersion: text,
    minIdleChannels: u16,
    features: u32,
  }),
  record({
    type: fc.constant('AUTH_OK' as const),
    sessionId: bytes(SESSION_ID_SIZE),
    serverProof: bytes(PROOF_SIZE),
    heartbeatIntervalMs: u32,
    heartbeatTimeoutMs: u32,
    mappings: fc.array(mapping, { maxLength: 6 }),
    features: u32,
  }),
  record({
    type: fc.constant('PROXY_HELLO' as const),
    sessionId: bytes(SESSION_ID_SIZE),
    proof: bytes(PROOF_SIZE),
    mux: fc.boolean(),
  }),
  record({ type: fc.constant('PING' as const), seq: u64 }),
  record({ type: fc.constant('PONG' as const), seq: u64 }),
  record({ type: fc.constant('NEED_CHANNELS' as const), count: u16 }),
  record({
    type: fc.constantFrom('KICK' as const, 'ERROR' as const),
    code,
    message: text,
  }),
  sessionMessage,
  record({ type: fc.constant('STREAM' as const), streamId: u32, message: sessionMessage }),
  record({ type: fc.constant('WINDOW' as const), streamId: u32, increment: u32 }),
  record({ type: fc.constant('RESET' as const), streamId: u32, code, message: text }),
);

const dataItem: fc.Arbitrary<StreamItem> = fc
  .uint8Array({ maxLength: 300 })
  .map((payload) => ({ type: 'DATA' as const, payload: Buffer.from(payload) }));

/** A few stream ids, so that STREAM_DATA of one stream often follows another of the same. */
const streamDataItem: fc.Arbitrary<StreamItem> = fc
  .tuple(fc.oneof(fc.constantFrom(1, 2, 0xffff_ffff), u32), fc.uint8Array({ maxLength: 300 }))
  .map(([streamId, payload]) => ({ type: 'STREAM_DATA' as const, streamId, payload: Buffer.from(payload) }));

const stream = fc.record({
  preamble: fc.boolean(),
  items: fc.array(fc.oneof(message, dataItem, streamDataItem), { maxLength: 12 }),
});

/** Sorted cut points within [0, length]; duplicates give empty chunks, which are legal too. */
function cutsFor(length: number): fc.Arbitrary<number[]> {
  return fc
    .array(fc.integer({ min: 0, max: length }), { maxLength: 8, size: 'medium' })
    .map((cuts) => cuts.sort((a, b) => a - b));
}

test('any messages, DATA and STREAM_DATA, cut into any chunks, decode to what was encoded', () => {
  fc.assert(
    fc.property(
      stream.chain((s) => {
        const encoded = encodeStream(s.items, s.preamble);
        return fc.tuple(fc.constant({ ...s, encoded }), cutsFor(encoded.length));
      }),
      ([s, cuts]) => {
        const observed = decodeChunks(splitAt(s.encoded, cuts), { expectPreamble: s.preamble });
        assert.deepEqual(observed, expectedObservations(s.items));
      },
    ),
    LIMITS,
  );
});

const knownTypes = Object.values(FrameType);

/** A frame header with a correct length for its payload, of a known or arbitrary type. */
const plausibleFrame = fc
  .tuple(
    fc.oneof(fc.constantFrom(...knownTypes), fc.integer({ min: 0, max: 0xff })),
    fc.uint8Array({ maxLength: 120, size: 'medium' }),
  )
  .map(([type, payload]) => {
    const header = Buffer.alloc(FRAME_HEADER_SIZE);
    header[0] = type;
    header.writeUInt32BE(payload.length, 1);
    return Buffer.concat([header, payload]);
  });

/** A valid stream with some bytes overwritten and possibly cut short: reaches deep into decodeMessage. */
const mutatedStream = stream.chain((s) => {
  const encoded = encodeStream(s.items, true);
  const edit = fc.tuple(
    fc.integer({ min: 0, max: Math.max(0, encoded.length - 1) }),
    fc.integer({ min: 0, max: 0xff }),
  );
  return fc
    .tuple(fc.array(edit, { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: encoded.length }))
    .map(([edits, keep]) => {
      const mutated = Buffer.from(encoded);
      for (const [at, value] of edits) if (at < mutated.length) mutated[at] = value;
      return mutated.subarray(0, keep);
    });
});

const garbage = fc.oneof(
  fc.uint8Array({ maxLength: 400, size: 'medium' }).map((b) => Buffer.from(b)),
  fc.uint8Array({ maxLength: 400, size: 'medium' }).map((b) => Buffer.concat([PREAMBLE, b])),
  fc.array(plausibleFrame, { maxLength: 10 }).map((frames) => Buffer.concat([PREAMBLE, ...frames])),
  mutatedStream,
);

test('garbage either decodes or fails with a MuonError, never another error', () => {
  fc.assert(
    fc.property(
      garbage.chain((g) => fc.tuple(fc.constant(g), cutsFor(g.length), fc.boolean(), fc.boolean())),
      ([g, cuts, expectPreamble, multiplexed]) => {
        // A multiplexed carrier's sink takes STREAM_DATA; a plain channel's refuses it.
        const sink: FrameSink = {
          onFrame: (type, payload) => decodeMessage(type, payload),
          onData: () => {},
        };
        if (multiplexed) sink.onStreamData = () => {};
        const decoder = new FrameDecoder(sink, { expectPreamble, maxFrameSize: 64 * 1024 });
        try {
          for (const chunk of splitAt(g, cuts)) decoder.push(chunk);
        } catch (error) {
          if (!(error instanceof MuonError)) throw error;
        }
      },
    ),
    LIMITS,
  );
});
