// The control messages of the Muon wire protocol and their payload layouts (docs/protocol.md).
// encodeMessage() gives one complete frame; decodeMessage() turns a frame's payload back.
// DATA is not here: its payload is raw bytes, written with dataHeader() and streamed.
// Fields appended to a message after its first release travel as one optional block at its end:
// absent (an older peer), the decoder fills in the defaults; present, it must be whole.

import { type ErrorCode, isErrorCode, MuonError } from '../errors.ts';
import { PayloadReader } from './buffer-reader.ts';
import { FrameWriter } from './buffer-writer.ts';
import { FRAME_HEADER_SIZE, FrameType, STREAM_ID_SIZE } from './frame-types.ts';

export const NONCE_SIZE = 32;
export const KEY_ID_SIZE = 16;
export const SESSION_ID_SIZE = 16;
export const PROOF_SIZE = 32;

export type Protocol = 'tcp' | 'udp';
const PROTOCOL_NUMBERS: Record<Protocol, number> = { tcp: 1, udp: 2 };

/** The PROXY protocol header the client writes to the target before the visitor's bytes. */
export type ProxyProtocolVersion = 'v1' | 'v2';
const PROXY_PROTOCOL_NUMBERS: Record<ProxyProtocolVersion, number> = { v1: 1, v2: 2 };

/** Bits of AUTH's `features`: what a client can do beyond TCP sessions without a PROXY header. */
export const Features = {
  /** UDP mappings: sessions with `protocol: 'udp'`, one datagram per DATA frame. */
  UDP: 0x1,
  /** Writes a PROXY protocol header to the target when CONNECT asks for one. */
  PROXY_PROTOCOL: 0x2,
  /**
   * Multiplexed carriers: proxy channels opened with `mux` that carry many sessions at once as
   * streams (STREAM, STREAM_DATA, WINDOW, RESET). Used only when AUTH_OK's features grant it.
   */
  MUX: 0x4,
  /**
   * Raw sessions: a CONNECT with `raw` set turns its pooled channel into the session's plain byte
   * stream after CONNECTED (no frames; end of file ends it), which the kernel relay carries on
   * both sides. Granted only on a plain (non-TLS) tunnel where both sides have the kernel relay.
   */
  RAW: 0x8,
  /**
   * Sealed raw sessions: raw sessions on a TLS tunnel. After CONNECTED neither side speaks TLS on
   * the channel any more; its bytes are records sealed with AES-256-GCM under keys both sides
   * export from the channel's TLS session (docs/protocol.md, "Sealed raw sessions"). Granted only
   * on a TLS tunnel where both sides have the kernel relay and it can seal.
   */
  SEALED: 0x10,
} as const;

export interface MappingInfo {
  protocol: Protocol;
  publicPort: number;
  targetHost: string;
  targetPort: number;
}

export type Message =
  | { type: 'CHALLENGE'; serverNonce: Buffer }
  | {
      type: 'AUTH';
      keyId: Buffer;
      clientNonce: Buffer;
      proof: Buffer;
      clientVersion: string;
      /** Idle proxy channels the client keeps warm; the server does not reap below this. */
      minIdleChannels: number;
      /** Features bits the client supports (0 from a client that predates the field). */
      features: number;
    }
  | {
      type: 'AUTH_OK';
      sessionId: Buffer;
      serverProof: Buffer;
      heartbeatIntervalMs: number;
      heartbeatTimeoutMs: number;
      mappings: MappingInfo[];
      /** The client's features the server will use (absent or 0 from a server that predates the field). */
      features?: number;
    }
  | {
      type: 'PROXY_HELLO';
      sessionId: Buffer;
      proof: Buffer;
      /** A multiplexed carrier rather than a one-session-at-a-time channel (false if absent). */
      mux?: boolean;
    }
  | { type: 'PING'; seq: bigint }
  | { type: 'PONG'; seq: bigint }
  | { type: 'NEED_CHANNELS'; count: number }
  | { type: 'KICK'; code: ErrorCode; message: string }
  | { type: 'ERROR'; code: ErrorCode; message: string }
  | {
      type: 'CONNECT';
      visitorId: number;
      targetHost: string;
      targetPort: number;
      visitorAddress: string;
      visitorPort: number;
      publicPort: number;
      /** 'udp': every DATA frame of the session is exactly one datagram. */
      protocol: Protocol;
      proxyProtocol: ProxyProtocolVersion | null;
      /** The server address the visitor connected to (the PROXY header's destination), or ''. */
      publicAddress: string;
      /** UDP: the session ends after this long without a datagram either way; 0 for TCP. */
      idleTimeoutMs: number;
      /**
       * A raw session (Features.RAW): after CONNECTED the channel carries the session's bytes as
       * they are, until end of file; before it, the server sends nothing more on the channel. On
       * a TLS tunnel (Features.SEALED) the bytes go in sealed records instead.
       */
      raw?: boolean;
    }
  | { type: 'CONNECTED' }
  | { type: 'END' }
  | { type: 'DISCONNECT'; code: ErrorCode; message: string }
  /** One session's control message on a multiplexed carrier. */
  | { type: 'STREAM'; streamId: number; message: StreamMessage }
  /** The receiver of a stream's DATA may take `increment` more bytes of it. */
  | { type: 'WINDOW'; streamId: number; increment: number }
  /** The stream is gone (as if its own channel had closed); nothing more is sent on it. */
  | { type: 'RESET'; streamId: number; code: ErrorCode; message: string };

/** The session messages a stream carries, as a proxy channel of its own would. */
export type StreamMessage = Extract<
  Message,
  { type: 'CONNECT' } | { type: 'CONNECTED' } | { type: 'END' } | { type: 'DISCONNECT' }
>;
const STREAM_MESSAGE_TYPES = new Set<number>([
  FrameType.CONNECT,
  FrameType.CONNECTED,
  FrameType.END,
  FrameType.DISCONNECT,
]);

export type MessageType = Message['type'];
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

export function encodeMessage(msg: Message): Buffer {
  const w = new FrameWriter(FrameType[msg.type]);
  switch (msg.type) {
    case 'CHALLENGE':
      return w.bytes(fixed(msg.serverNonce, NONCE_SIZE)).finish();
    case 'AUTH':
      return w
        .bytes(fixed(msg.keyId, KEY_ID_SIZE))
        .bytes(fixed(msg.clientNonce, NONCE_SIZE))
        .bytes(fixed(msg.proof, PROOF_SIZE))
        .str(msg.clientVersion)
        .u16(msg.minIdleChannels)
        .u32(msg.features)
        .finish();
    case 'AUTH_OK':
      w.bytes(fixed(msg.sessionId, SESSION_ID_SIZE))
        .bytes(fixed(msg.serverProof, PROOF_SIZE))
        .u32(msg.heartbeatIntervalMs)
        .u32(msg.heartbeatTimeoutMs)
        .u16(msg.mappings.length);
      for (const m of msg.mappings) {
        w.u8(PROTOCOL_NUMBERS[m.protocol]).u16(m.publicPort).str(m.targetHost).u16(m.targetPort);
      }
      return w.u32(msg.features ?? 0).finish();
    case 'PROXY_HELLO':
      return w
        .bytes(fixed(msg.sessionId, SESSION_ID_SIZE))
        .bytes(fixed(msg.proof, PROOF_SIZE))
        .u8(msg.mux ? 1 : 0)
        .finish();
    case 'PING':
    case 'PONG':
      return w.u64(msg.seq).finish();
    case 'NEED_CHANNELS':
      return w.u16(msg.count).finish();
    case 'KICK':
    case 'ERROR':
    case 'DISCONNECT':
      return w.str(msg.code).str(msg.message).finish();
    case 'CONNECT':
      return w
        .u32(msg.visitorId)
        .str(msg.targetHost)
        .u16(msg.targetPort)
        .str(msg.visitorAddress)
        .u16(msg.visitorPort)
        .u16(msg.publicPort)
        .u8(PROTOCOL_NUMBERS[msg.protocol])
        .u8(msg.proxyProtocol === null ? 0 : PROXY_PROTOCOL_NUMBERS[msg.proxyProtocol])
        .str(msg.publicAddress)
        .u32(msg.idleTimeoutMs)
        .u8(msg.raw ? 1 : 0)
        .finish();
    case 'CONNECTED':
    case 'END':
      return w.finish();
    case 'STREAM':
      // The inner message's payload, without its own frame header.
      return w
        .u32(msg.streamId)
        .u8(FrameType[msg.message.type])
        .bytes(encodeMessage(msg.message).subarray(FRAME_HEADER_SIZE))
        .finish();
    case 'WINDOW':
      return w.u32(msg.streamId).u32(msg.increment).finish();
    case 'RESET':
      return w.u32(msg.streamId).str(msg.code).str(msg.message).finish();
  }
}

export function decodeMessage(type: number, payload: Buffer): Message {
  switch (type) {
    case FrameType.CHALLENGE: {
      const r = new PayloadReader(payload, 'CHALLENGE');
      return { type: 'CHALLENGE', serverNonce: r.bytes(NONCE_SIZE) };
    }
    case FrameType.AUTH: {
      const r = new PayloadReader(payload, 'AUTH');
      return {
        type: 'AUTH',
        keyId: r.bytes(KEY_ID_SIZE),
        clientNonce: r.bytes(NONCE_SIZE),
        proof: r.bytes(PROOF_SIZE),
        clientVersion: r.str(),
        minIdleChannels: r.u16(),
        features: r.remaining > 0 ? r.u32() : 0,
      };
    }
    case FrameType.AUTH_OK: {
      const r = new PayloadReader(payload, 'AUTH_OK');
      const sessionId = r.bytes(SESSION_ID_SIZE);
      const serverProof = r.bytes(PROOF_SIZE);
      const heartbeatIntervalMs = r.u32();
      const heartbeatTimeoutMs = r.u32();
      const count = r.u16();
      const mappings: MappingInfo[] = [];
      for (let i = 0; i < count; i++) {
        mappings.push({
          protocol: protocolOf(r.u8()),
          publicPort: r.u16(),
          targetHost: r.str(),
          targetPort: r.u16(),
        });
      }
      const features = r.remaining > 0 ? r.u32() : 0;
      return {
        type: 'AUTH_OK',
        sessionId,
        serverProof,
        heartbeatIntervalMs,
        heartbeatTimeoutMs,
        mappings,
        features,
      };
    }
    case FrameType.PROXY_HELLO: {
      const r = new PayloadReader(payload, 'PROXY_HELLO');
      const sessionId = r.bytes(SESSION_ID_SIZE);
      const proof = r.bytes(PROOF_SIZE);
      return { type: 'PROXY_HELLO', sessionId, proof, mux: r.remaining > 0 && r.u8() === 1 };
    }
    case FrameType.PING:
      return { type: 'PING', seq: new PayloadReader(payload, 'PING').u64() };
    case FrameType.PONG:
      return { type: 'PONG', seq: new PayloadReader(payload, 'PONG').u64() };
    case FrameType.NEED_CHANNELS:
      return { type: 'NEED_CHANNELS', count: new PayloadReader(payload, 'NEED_CHANNELS').u16() };
    case FrameType.KICK:
      return { type: 'KICK', ...codeAndMessage(payload, 'KICK') };
    case FrameType.ERROR:
      return { type: 'ERROR', ...codeAndMessage(payload, 'ERROR') };
    case FrameType.DISCONNECT:
      return { type: 'DISCONNECT', ...codeAndMessage(payload, 'DISCONNECT') };
    case FrameType.CONNECT: {
      const r = new PayloadReader(payload, 'CONNECT');
      const base = {
        type: 'CONNECT' as const,
        visitorId: r.u32(),
        targetHost: r.str(),
        targetPort: r.u16(),
        visitorAddress: r.str(),
        visitorPort: r.u16(),
        publicPort: r.u16(),
      };
      if (r.remaining === 0) {
        return { ...base, protocol: 'tcp', proxyProtocol: null, publicAddress: '', idleTimeoutMs: 0 };
      }
      const message = {
        ...base,
        protocol: protocolOf(r.u8()),
        proxyProtocol: proxyProtocolOf(r.u8()),
        publicAddress: r.str(),
        idleTimeoutMs: r.u32(),
      };
      // Absent from a server that predates raw sessions.
      return r.remaining > 0 && r.u8() === 1 ? { ...message, raw: true } : message;
    }
    case FrameType.CONNECTED:
      return { type: 'CONNECTED' };
    case FrameType.END:
      return { type: 'END' };
    case FrameType.STREAM: {
      const r = new PayloadReader(payload, 'STREAM');
      const streamId = r.u32();
      const inner = r.u8();
      if (!STREAM_MESSAGE_TYPES.has(inner)) {
        throw new MuonError(
          'MUON_ERR_MALFORMED_FRAME',
          `frame type 0x${inner.toString(16)} cannot travel in a stream`,
        );
      }
      const message = decodeMessage(inner, payload.subarray(STREAM_ID_SIZE + 1)) as StreamMessage;
      return { type: 'STREAM', streamId, message };
    }
    case FrameType.WINDOW: {
      const r = new PayloadReader(payload, 'WINDOW');
      return { type: 'WINDOW', streamId: r.u32(), increment: r.u32() };
    }
    case FrameType.RESET: {
      const r = new PayloadReader(payload, 'RESET');
      const streamId = r.u32();
      return { type: 'RESET', streamId, ...codeAndMessage(payload.subarray(STREAM_ID_SIZE), 'RESET') };
    }
    default:
      throw new MuonError(
        'MUON_ERR_MALFORMED_FRAME',
        `frame type 0x${type.toString(16)} is not a control message`,
      );
  }
}

/** The 5-byte header of a DATA frame carrying `length` payload bytes. */
export function dataHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  header[0] = FrameType.DATA;
  header.writeUInt32BE(length, 1);
  return header;
}

/** The 9-byte header of a STREAM_DATA frame carrying `length` bytes of stream `streamId`. */
export function streamDataHeader(streamId: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_SIZE + STREAM_ID_SIZE);
  header[0] = FrameType.STREAM_DATA;
  header.writeUInt32BE(length + STREAM_ID_SIZE, 1);
  header.writeUInt32BE(streamId, FRAME_HEADER_SIZE);
  return header;
}

function codeAndMessage(payload: Buffer, what: string): { code: ErrorCode; message: string } {
  const r = new PayloadReader(payload, what);
  const code = r.str();
  const message = r.str();
  // An unknown code from a newer peer is reported as a generic peer error, keeping its text.
  return isErrorCode(code)
    ? { code, message }
    : { code: 'MUON_ERR_PEER_ERROR', message: `${code}: ${message}` };
}

function protocolOf(n: number): Protocol {
  if (n === PROTOCOL_NUMBERS.tcp) return 'tcp';
  if (n === PROTOCOL_NUMBERS.udp) return 'udp';
  throw new MuonError('MUON_ERR_MALFORMED_FRAME', `unknown mapping protocol ${n}`);
}

function proxyProtocolOf(n: number): ProxyProtocolVersion | null {
  if (n === 0) return null;
  if (n === PROXY_PROTOCOL_NUMBERS.v1) return 'v1';
  if (n === PROXY_PROTOCOL_NUMBERS.v2) return 'v2';
  throw new MuonError('MUON_ERR_MALFORMED_FRAME', `unknown PROXY protocol version ${n}`);
}

function fixed(value: Buffer, size: number): Buffer {
  if (value.length !== size) throw new RangeError(`expected ${size} bytes, got ${value.length}`);
  return value;
}
