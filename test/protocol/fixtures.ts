// Shared material for the protocol specifications: one sample of every control message,
// fixture streams as a peer would send them (one-session channels and multiplexed carriers), and
// a sink that records what a FrameDecoder emits in a form that does not depend on how the stream
// was cut into chunks.

import assert from 'node:assert/strict';
import { type ErrorCode, MuonError } from '../../src/errors.ts';
import { FrameDecoder, type FrameDecoderOptions } from '../../src/protocol/frame-decoder.ts';
import { PREAMBLE } from '../../src/protocol/frame-types.ts';
import {
  dataHeader,
  decodeMessage,
  encodeMessage,
  Features,
  type Message,
  streamDataHeader,
} from '../../src/protocol/messages.ts';

/** A DATA frame in a fixture: its payload bytes. */
export interface DataItem {
  type: 'DATA';
  payload: Buffer;
}

/** A STREAM_DATA frame in a fixture: the stream's bytes it carries (after the stream id). */
export interface StreamDataItem {
  type: 'STREAM_DATA';
  streamId: number;
  payload: Buffer;
}

export type StreamItem = Message | DataItem | StreamDataItem;

/** DATA and STREAM_DATA: raw bytes streamed through the decoder, not control messages. */
export function isDataItem(item: StreamItem): item is DataItem | StreamDataItem {
  return item.type === 'DATA' || item.type === 'STREAM_DATA';
}

/**
 * What a receiver observes: decoded control messages, the DATA bytes between them, and the
 * bytes of each stream on a multiplexed carrier.
 */
export type Observed =
  | { kind: 'message'; message: Message }
  | { kind: 'data'; bytes: Buffer }
  | { kind: 'streamData'; streamId: number; bytes: Buffer };

export function bytesOf(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) out[i] = (seed + i * 31) & 0xff;
  return out;
}

const CONNECT_SAMPLE: Extract<Message, { type: 'CONNECT' }> = {
  type: 'CONNECT',
  visitorId: 0xffff_fffe,
  targetHost: '10.0.0.5',
  targetPort: 8080,
  visitorAddress: '2001:db8::1',
  visitorPort: 51234,
  publicPort: 8000,
  protocol: 'tcp',
  proxyProtocol: 'v2',
  publicAddress: '2001:db8::80',
  idleTimeoutMs: 0,
};

/** One sample of each control message, with non-trivial field values. */
export const SAMPLE_MESSAGES: readonly Message[] = [
  { type: 'CHALLENGE', serverNonce: bytesOf(32, 1) },
  {
    type: 'AUTH',
    keyId: bytesOf(16, 2),
    clientNonce: bytesOf(32, 3),
    proof: bytesOf(32, 4),
    clientVersion: 'muon-client/0.1.0 (linux; x64)',
    minIdleChannels: 2,
    features: Features.UDP | Features.PROXY_PROTOCOL,
  },
  {
    type: 'AUTH_OK',
    sessionId: bytesOf(16, 5),
    serverProof: bytesOf(32, 6),
    heartbeatIntervalMs: 10_000,
    heartbeatTimeoutMs: 30_000,
    mappings: [
      { protocol: 'tcp', publicPort: 2222, targetHost: '127.0.0.1', targetPort: 22 },
      { protocol: 'tcp', publicPort: 65535, targetHost: 'db.intranet.example', targetPort: 3306 },
      { protocol: 'udp', publicPort: 5353, targetHost: '10.0.0.53', targetPort: 53 },
    ],
    features: Features.UDP | Features.MUX,
  },
  { type: 'PROXY_HELLO', sessionId: bytesOf(16, 7), proof: bytesOf(32, 8), mux: true },
  { type: 'PING', seq: 7n },
  { type: 'PONG', seq: 0xffff_ffff_ffff_ffffn },
  { type: 'NEED_CHANNELS', count: 3 },
  { type: 'KICK', code: 'MUON_ERR_LICENSE_DISABLED', message: 'license disabled by an administrator' },
  { type: 'ERROR', code: 'MUON_ERR_AUTH_FAILED', message: 'Ünknown license — try again' },
  CONNECT_SAMPLE,
  { type: 'CONNECTED' },
  { type: 'END' },
  { type: 'DISCONNECT', code: 'MUON_ERR_TARGET_UNREACHABLE', message: 'connect ECONNREFUSED 10.0.0.5:8080' },
  { type: 'STREAM', streamId: 0x8000_0001, message: { ...CONNECT_SAMPLE, visitorId: 17 } },
  { type: 'WINDOW', streamId: 0xffff_ffff, increment: 256 * 1024 },
  { type: 'RESET', streamId: 3, code: 'MUON_ERR_FLOW_CONTROL', message: 'stream 3 sent beyond its window' },
];

export function sample<T extends Message['type']>(type: T): Extract<Message, { type: T }> {
  const found = SAMPLE_MESSAGES.find((m) => m.type === type);
  assert.ok(found, `no sample for ${type}`);
  return found as Extract<Message, { type: T }>;
}

export interface Fixture {
  name: string;
  preamble: boolean;
  items: StreamItem[];
}

function data(payload: Buffer): DataItem {
  return { type: 'DATA', payload };
}

function disconnect(code: ErrorCode, message: string): Extract<Message, { type: 'DISCONNECT' }> {
  return { type: 'DISCONNECT', code, message };
}

function streamData(streamId: number, payload: Buffer): StreamDataItem {
  return { type: 'STREAM_DATA', streamId, payload };
}

/** Streams as each side of each channel kind sends them. */
export const FIXTURES: readonly Fixture[] = [
  {
    name: 'server side of a command channel',
    preamble: true,
    items: [
      sample('CHALLENGE'),
      sample('AUTH_OK'),
      { type: 'PING', seq: 1n },
      { type: 'PONG', seq: 1n },
      sample('NEED_CHANNELS'),
      sample('KICK'),
    ],
  },
  {
    name: 'client side of a command channel',
    preamble: true,
    items: [sample('AUTH'), { type: 'PONG', seq: 1n }, { type: 'PING', seq: 2n }, sample('ERROR')],
  },
  {
    name: 'server side of a proxy channel carrying two sessions',
    preamble: true,
    items: [
      sample('CHALLENGE'),
      sample('CONNECT'),
      data(Buffer.from('GET / HTTP/1.1\r\nHost: example.test\r\n\r\n')),
      data(Buffer.alloc(0)),
      data(bytesOf(256, 9)),
      { type: 'END' },
      {
        ...sample('CONNECT'),
        visitorId: 2,
        protocol: 'udp',
        proxyProtocol: null,
        publicAddress: '',
        idleTimeoutMs: 60_000,
      },
      data(bytesOf(3, 10)),
      disconnect('MUON_ERR_SHUTDOWN', 'server stopping'),
    ],
  },
  {
    name: 'client side of a proxy channel',
    preamble: true,
    items: [
      sample('PROXY_HELLO'),
      { type: 'CONNECTED' },
      data(bytesOf(1000, 11)),
      data(bytesOf(1, 12)),
      data(Buffer.alloc(0)),
      data(bytesOf(7, 13)),
      { type: 'END' },
      disconnect('MUON_ERR_TARGET_UNREACHABLE', 'ECONNREFUSED'),
    ],
  },
  {
    name: 'frames without a preamble, DATA first and last',
    preamble: false,
    items: [data(bytesOf(40, 14)), { type: 'CONNECTED' }, { type: 'END' }, data(bytesOf(5, 15))],
  },
  {
    name: 'server side of a multiplexed carrier with interleaved streams',
    preamble: true,
    items: [
      sample('CHALLENGE'),
      { type: 'STREAM', streamId: 1, message: sample('CONNECT') },
      { type: 'STREAM', streamId: 2, message: { ...sample('CONNECT'), visitorId: 2, protocol: 'udp' } },
      streamData(1, Buffer.from('GET / HTTP/1.1\r\nHost: example.test\r\n\r\n')),
      streamData(2, bytesOf(300, 16)),
      streamData(2, Buffer.alloc(0)),
      streamData(1, bytesOf(2, 17)),
      { type: 'WINDOW', streamId: 1, increment: 65_536 },
      streamData(2, bytesOf(1, 18)),
      { type: 'STREAM', streamId: 1, message: { type: 'END' } },
      sample('RESET'),
      { type: 'STREAM', streamId: 2, message: disconnect('MUON_ERR_SHUTDOWN', 'server stopping') },
    ],
  },
  {
    name: 'client side of a multiplexed carrier',
    preamble: true,
    items: [
      sample('PROXY_HELLO'),
      { type: 'STREAM', streamId: 1, message: { type: 'CONNECTED' } },
      streamData(1, bytesOf(1000, 19)),
      { type: 'WINDOW', streamId: 2, increment: 300 },
      streamData(0xffff_ffff, Buffer.alloc(0)),
      streamData(1, bytesOf(7, 20)),
      streamData(1, bytesOf(5, 21)),
      { type: 'STREAM', streamId: 2, message: disconnect('MUON_ERR_TARGET_UNREACHABLE', 'ECONNREFUSED') },
      { type: 'STREAM', streamId: 1, message: { type: 'END' } },
      { type: 'RESET', streamId: 1, code: 'MUON_ERR_PEER_ERROR', message: 'stream closed' },
    ],
  },
];

/** The bytes a peer sends for these items. */
export function encodeStream(items: readonly StreamItem[], preamble: boolean): Buffer {
  const parts: Buffer[] = preamble ? [PREAMBLE] : [];
  for (const item of items) {
    if (item.type === 'DATA') parts.push(dataHeader(item.payload.length), item.payload);
    else if (item.type === 'STREAM_DATA') {
      parts.push(streamDataHeader(item.streamId, item.payload.length), item.payload);
    } else parts.push(encodeMessage(item));
  }
  return Buffer.concat(parts);
}

/** What a receiver must observe for these items, however the stream is chunked. */
export function expectedObservations(items: readonly StreamItem[]): Observed[] {
  const out = new Recorder();
  for (const item of items) {
    if (item.type === 'DATA') out.data(item.payload);
    else if (item.type === 'STREAM_DATA') out.streamData(item.streamId, item.payload);
    else out.message(item);
  }
  return out.observed;
}

/**
 * Accumulates observations, merging adjacent DATA bytes, and adjacent STREAM_DATA bytes of one
 * stream (frame boundaries in a byte stream carry no meaning).
 */
class Recorder {
  readonly observed: Observed[] = [];

  message(message: Message): void {
    this.observed.push({ kind: 'message', message });
  }

  data(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const last = this.observed.at(-1);
    if (last?.kind === 'data') last.bytes = Buffer.concat([last.bytes, bytes]);
    else this.observed.push({ kind: 'data', bytes: Buffer.from(bytes) });
  }

  streamData(streamId: number, bytes: Buffer): void {
    if (bytes.length === 0) return;
    const last = this.observed.at(-1);
    if (last?.kind === 'streamData' && last.streamId === streamId)
      last.bytes = Buffer.concat([last.bytes, bytes]);
    else this.observed.push({ kind: 'streamData', streamId, bytes: Buffer.from(bytes) });
  }
}

/**
 * A FrameDecoder whose sink decodes every control frame with decodeMessage and records it, DATA
 * and STREAM_DATA alike (a multiplexed carrier's sink).
 */
export function recordingDecoder(options: FrameDecoderOptions = {}): {
  decoder: FrameDecoder;
  observed: Observed[];
} {
  const recorder = new Recorder();
  const decoder = new FrameDecoder(
    {
      onFrame: (type, payload) => recorder.message(decodeMessage(type, payload)),
      onData: (piece) => recorder.data(piece),
      onStreamData: (streamId, piece) => recorder.streamData(streamId, piece),
    },
    options,
  );
  return { decoder, observed: recorder.observed };
}

/** Decodes `stream` fed as the given chunks. */
export function decodeChunks(chunks: readonly Buffer[], options: FrameDecoderOptions = {}): Observed[] {
  const { decoder, observed } = recordingDecoder(options);
  for (const chunk of chunks) decoder.push(chunk);
  return observed;
}

/** Splits `stream` at the given offsets (ascending, within bounds). */
export function splitAt(stream: Buffer, cuts: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of cuts) {
    chunks.push(stream.subarray(from, cut));
    from = cut;
  }
  chunks.push(stream.subarray(from));
  return chunks;
}

/** Asserts that `fn` throws a MuonError with this code, and returns it. */
export function expectMuonError(fn: () => unknown, code: ErrorCode): MuonError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof MuonError, `expected a MuonError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}
