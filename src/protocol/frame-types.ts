// Wire constants: the preamble that opens every tunnel connection and the frame type numbers.
// See docs/protocol.md for the layout of each frame.

/** Every tunnel connection starts, in each direction, with these 4 bytes and a version byte. */
export const MAGIC = Buffer.from('MUON', 'latin1');
export const PROTOCOL_VERSION = 1;
export const PREAMBLE = Buffer.concat([MAGIC, Buffer.from([PROTOCOL_VERSION])]);
export const PREAMBLE_SIZE = PREAMBLE.length;

/** type (u8) + payload length (u32, big-endian). */
export const FRAME_HEADER_SIZE = 5;

/** Default limit on a frame's declared payload length; larger declarations are rejected before buffering. */
export const DEFAULT_MAX_FRAME_SIZE = 1024 * 1024;

/** Control frames are small; capping them bounds what a peer can make us buffer. */
export const MAX_CONTROL_SIZE = 64 * 1024;

export const FrameType = {
  CHALLENGE: 0x01,
  AUTH: 0x02,
  AUTH_OK: 0x03,
  PROXY_HELLO: 0x04,
  PING: 0x05,
  PONG: 0x06,
  NEED_CHANNELS: 0x07,
  KICK: 0x08,
  ERROR: 0x09,
  CONNECT: 0x10,
  CONNECTED: 0x11,
  DATA: 0x12,
  END: 0x13,
  DISCONNECT: 0x14,
  // Multiplexed carriers only (the MUX feature): many sessions over one proxy channel.
  STREAM: 0x20,
  STREAM_DATA: 0x21,
  WINDOW: 0x22,
  RESET: 0x23,
} as const;

/** STREAM_DATA's payload starts with the stream id (u32) before the session's bytes. */
export const STREAM_ID_SIZE = 4;

/**
 * The most bytes of a session one STREAM_DATA frame carries (after its id): a socket read, or the
 * largest datagram, fits in one. It is also the most a sender may overdraw its credit by.
 */
export const STREAM_MAX_PAYLOAD = 64 * 1024;

export type FrameTypeName = keyof typeof FrameType;
export type FrameTypeValue = (typeof FrameType)[FrameTypeName];

const NAMES = new Map<number, FrameTypeName>(
  Object.entries(FrameType).map(([name, value]) => [value, name as FrameTypeName]),
);

export function frameTypeName(type: number): FrameTypeName | undefined {
  return NAMES.get(type);
}
