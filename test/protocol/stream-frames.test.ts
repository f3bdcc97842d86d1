// Specification of the frames of a multiplexed carrier (the MUX feature). STREAM carries one
// session's control message (CONNECT, CONNECTED, END or DISCONNECT) and nothing else; WINDOW and
// RESET are plain control messages naming a stream. STREAM_DATA streams through the decoder as
// DATA does: after its 4-byte stream id, pieces go to the sink's onStreamData, never buffered,
// with frameEnd on the last piece of each frame, however the bytes were cut into chunks.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FrameDecoder, type FrameDecoderOptions } from '../../src/protocol/frame-decoder.ts';
import {
  FRAME_HEADER_SIZE,
  FrameType,
  MAX_CONTROL_SIZE,
  STREAM_ID_SIZE,
  STREAM_MAX_PAYLOAD,
} from '../../src/protocol/frame-types.ts';
import {
  dataHeader,
  decodeMessage,
  encodeMessage,
  type Message,
  type StreamMessage,
  streamDataHeader,
} from '../../src/protocol/messages.ts';
import { bytesOf, decodeChunks, expectMuonError, sample, splitAt } from './fixtures.ts';

/** One STREAM_DATA piece exactly as the sink got it (the bytes copied, the piece kept for identity checks). */
interface Piece {
  streamId: number;
  bytes: Buffer;
  frameEnd: boolean;
  view: Buffer;
}

/** A decoder whose sink records STREAM_DATA pieces, DATA pieces and control frame types. */
function streamDecoder(options: FrameDecoderOptions = {}) {
  const pieces: Piece[] = [];
  const data: Buffer[] = [];
  const frames: number[] = [];
  const decoder = new FrameDecoder(
    {
      onFrame: (type) => frames.push(type),
      onData: (piece) => data.push(Buffer.from(piece)),
      onStreamData: (streamId, piece, frameEnd) =>
        pieces.push({ streamId, bytes: Buffer.from(piece), frameEnd, view: piece }),
    },
    options,
  );
  return { decoder, pieces, data, frames };
}

/** A frame header declaring `length` payload bytes, whatever the type. */
function header(type: number, length: number): Buffer {
  const h = Buffer.alloc(FRAME_HEADER_SIZE);
  h[0] = type;
  h.writeUInt32BE(length, 1);
  return h;
}

function streamDataFrame(streamId: number, payload: Buffer): Buffer {
  return Buffer.concat([streamDataHeader(streamId, payload.length), payload]);
}

/** A STREAM frame built by hand: u32 stream id, u8 inner frame type, the inner payload. */
function streamFrame(streamId: number, innerType: number, innerPayload: Buffer): Buffer {
  const prefix = Buffer.alloc(STREAM_ID_SIZE + 1);
  prefix.writeUInt32BE(streamId, 0);
  prefix[STREAM_ID_SIZE] = innerType;
  return Buffer.concat([header(FrameType.STREAM, prefix.length + innerPayload.length), prefix, innerPayload]);
}

/**
 * The frames the pieces make up, checking on the way that a frame's pieces all name its stream and
 * that frameEnd is set on its last piece only.
 */
function framesOf(pieces: readonly Piece[]): { streamId: number; bytes: Buffer }[] {
  const frames: { streamId: number; bytes: Buffer }[] = [];
  let open: { streamId: number; parts: Buffer[] } | undefined;
  for (const piece of pieces) {
    if (open) assert.equal(piece.streamId, open.streamId, 'a frame changed stream halfway');
    open ??= { streamId: piece.streamId, parts: [] };
    open.parts.push(piece.bytes);
    if (piece.frameEnd) {
      frames.push({ streamId: open.streamId, bytes: Buffer.concat(open.parts) });
      open = undefined;
    }
  }
  assert.equal(open, undefined, 'the last frame never ended');
  return frames;
}

describe('STREAM', () => {
  const inner: StreamMessage[] = [
    sample('CONNECT'),
    { ...sample('CONNECT'), protocol: 'udp', proxyProtocol: null, publicAddress: '', idleTimeoutMs: 60_000 },
    { type: 'CONNECTED' },
    { type: 'END' },
    sample('DISCONNECT'),
  ];

  for (const message of inner) {
    test(`wrapping ${message.type} survives encodeMessage → FrameDecoder → decodeMessage unchanged`, () => {
      for (const streamId of [1, 42, 0xffff_ffff]) {
        const msg: Message = { type: 'STREAM', streamId, message };
        assert.deepEqual(decodeChunks([encodeMessage(msg)]), [{ kind: 'message', message: msg }]);
      }
    });
  }

  for (const message of inner) {
    test(`wrapping ${message.type} is the stream id, the inner type byte, then the inner frame's payload`, () => {
      const frame = encodeMessage({ type: 'STREAM', streamId: 0x01020304, message });
      const innerFrame = encodeMessage(message);
      assert.equal(frame[0], FrameType.STREAM);
      assert.equal(frame.readUInt32BE(1), frame.length - FRAME_HEADER_SIZE);
      assert.equal(frame.readUInt32BE(FRAME_HEADER_SIZE), 0x01020304);
      assert.equal(frame[FRAME_HEADER_SIZE + STREAM_ID_SIZE], FrameType[message.type]);
      assert.deepEqual(
        frame.subarray(FRAME_HEADER_SIZE + STREAM_ID_SIZE + 1),
        innerFrame.subarray(FRAME_HEADER_SIZE),
      );
    });
  }

  test('built by hand from the documented layout decodes', () => {
    const payload = encodeMessage(sample('DISCONNECT')).subarray(FRAME_HEADER_SIZE);
    assert.deepEqual(decodeChunks([streamFrame(7, FrameType.DISCONNECT, payload)]), [
      { kind: 'message', message: { type: 'STREAM', streamId: 7, message: sample('DISCONNECT') } },
    ]);
  });

  const notSession: Message[] = [
    sample('PING'),
    sample('AUTH'),
    sample('CHALLENGE'),
    sample('ERROR'),
    sample('KICK'),
    sample('WINDOW'),
    sample('RESET'),
    sample('STREAM'),
  ];
  for (const message of notSession) {
    test(`wrapping ${message.type}, which is not a session message, is MUON_ERR_MALFORMED_FRAME`, () => {
      const payload = encodeMessage(message).subarray(FRAME_HEADER_SIZE);
      const frame = streamFrame(3, FrameType[message.type], payload);
      expectMuonError(
        () => decodeMessage(FrameType.STREAM, frame.subarray(FRAME_HEADER_SIZE)),
        'MUON_ERR_MALFORMED_FRAME',
      );
    });
  }

  for (const innerType of [FrameType.DATA, FrameType.STREAM_DATA, 0x00, 0x7f, 0xff]) {
    test(`wrapping frame type 0x${innerType.toString(16)} is MUON_ERR_MALFORMED_FRAME`, () => {
      const frame = streamFrame(3, innerType, bytesOf(8, 1));
      expectMuonError(
        () => decodeMessage(FrameType.STREAM, frame.subarray(FRAME_HEADER_SIZE)),
        'MUON_ERR_MALFORMED_FRAME',
      );
    });
  }

  test('without its inner type byte is MUON_ERR_MALFORMED_FRAME', () => {
    expectMuonError(
      () => decodeMessage(FrameType.STREAM, Buffer.from([0, 0, 0, 1])),
      'MUON_ERR_MALFORMED_FRAME',
    );
  });
});

describe('WINDOW and RESET', () => {
  test('WINDOW is the stream id (u32) then the increment (u32)', () => {
    const frame = encodeMessage({ type: 'WINDOW', streamId: 0x0a0b0c0d, increment: 0x00040000 });
    assert.deepEqual(
      [...frame],
      [FrameType.WINDOW, 0, 0, 0, 8, 0x0a, 0x0b, 0x0c, 0x0d, 0x00, 0x04, 0x00, 0x00],
    );
  });

  test('RESET is the stream id (u32), then the code and the message as strings', () => {
    const msg: Message = { type: 'RESET', streamId: 5, code: 'MUON_ERR_SHUTDOWN', message: 'bye' };
    const payload = encodeMessage(msg).subarray(FRAME_HEADER_SIZE);
    assert.equal(payload.readUInt32BE(0), 5);
    const rest = encodeMessage({ type: 'DISCONNECT', code: 'MUON_ERR_SHUTDOWN', message: 'bye' });
    assert.deepEqual(payload.subarray(STREAM_ID_SIZE), rest.subarray(FRAME_HEADER_SIZE));
    assert.deepEqual(decodeMessage(FrameType.RESET, payload), msg);
  });
});

describe('streamDataHeader', () => {
  test('is the 9-byte header of a STREAM_DATA frame: its length counts the stream id', () => {
    assert.deepEqual(
      [...streamDataHeader(0x0a0b0c0d, 0x100)],
      [FrameType.STREAM_DATA, 0, 0, 1, 4, 10, 11, 12, 13],
    );
    assert.deepEqual([...streamDataHeader(1, 0)], [FrameType.STREAM_DATA, 0, 0, 0, 4, 0, 0, 0, 1]);
  });
});

describe('STREAM_DATA', () => {
  // Frames of three streams, with an empty one, DATA and control frames between them.
  const expectedFrames = [
    { streamId: 1, bytes: Buffer.from('hello, stream one') },
    { streamId: 2, bytes: bytesOf(300, 1) },
    { streamId: 0xffff_ffff, bytes: Buffer.alloc(0) },
    { streamId: 1, bytes: bytesOf(1, 2) },
    { streamId: 2, bytes: bytesOf(17, 3) },
  ];
  const stream = Buffer.concat([
    streamDataFrame(1, Buffer.from('hello, stream one')),
    encodeMessage({ type: 'WINDOW', streamId: 1, increment: 100 }),
    streamDataFrame(2, bytesOf(300, 1)),
    streamDataFrame(0xffff_ffff, Buffer.alloc(0)),
    dataHeader(3),
    Buffer.from('abc'),
    streamDataFrame(1, bytesOf(1, 2)),
    encodeMessage({ type: 'STREAM', streamId: 2, message: { type: 'END' } }),
    streamDataFrame(2, bytesOf(17, 3)),
  ]);
  const expectedControl = [FrameType.WINDOW, FrameType.STREAM];

  function decodeAll(chunks: readonly Buffer[]) {
    const d = streamDecoder();
    for (const chunk of chunks) d.decoder.push(chunk);
    assert.deepEqual(d.frames, expectedControl);
    assert.deepEqual(Buffer.concat(d.data), Buffer.from('abc'));
    assert.equal(d.decoder.bufferedBytes, 0);
    return d.pieces;
  }

  test('fed in one chunk gives one piece per frame, with its stream id and frameEnd', () => {
    const pieces = decodeAll([stream]);
    assert.deepEqual(
      pieces.map(({ streamId, bytes, frameEnd }) => ({ streamId, bytes, frameEnd })),
      expectedFrames.map(({ streamId, bytes }) => ({ streamId, bytes, frameEnd: true })),
    );
  });

  test('split in two at every byte offset gives the same frames', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      assert.deepEqual(framesOf(decodeAll(splitAt(stream, [cut]))), expectedFrames, `split at ${cut}`);
    }
  });

  test('fed one byte at a time gives the same frames, one piece per payload byte', () => {
    const bytes: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) bytes.push(stream.subarray(i, i + 1));
    const pieces = decodeAll(bytes);
    assert.deepEqual(framesOf(pieces), expectedFrames);
    const payloadBytes = expectedFrames.reduce((sum, f) => sum + Math.max(1, f.bytes.length), 0);
    assert.equal(pieces.length, payloadBytes);
  });

  test('pieces are views into the chunk they arrived in, not copies', () => {
    const chunk = Buffer.concat([streamDataFrame(9, Buffer.from('abcdef')), encodeMessage(sample('PING'))]);
    const { decoder, pieces } = streamDecoder();
    decoder.push(chunk);
    assert.equal(pieces.length, 1);
    assert.equal(pieces[0]?.view.buffer, chunk.buffer);
    assert.equal(pieces[0]?.view.byteOffset, chunk.byteOffset + FRAME_HEADER_SIZE + STREAM_ID_SIZE);
  });

  test('a payload split over several chunks arrives as several pieces, frameEnd on the last only', () => {
    const { decoder, pieces } = streamDecoder();
    const payload = bytesOf(300, 4);
    decoder.push(Buffer.concat([streamDataHeader(6, 300), payload.subarray(0, 100)]));
    decoder.push(payload.subarray(100, 250));
    assert.equal(decoder.bufferedBytes, 0, 'the payload is not held');
    decoder.push(payload.subarray(250));
    assert.deepEqual(
      pieces.map((p) => [p.streamId, p.bytes.length, p.frameEnd]),
      [
        [6, 100, false],
        [6, 150, false],
        [6, 50, true],
      ],
    );
  });

  test('a zero-length stream payload is one empty piece with frameEnd, and the next frame follows', () => {
    const { decoder, pieces, frames } = streamDecoder();
    decoder.push(Buffer.concat([streamDataHeader(4, 0), encodeMessage(sample('PING'))]));
    assert.deepEqual(
      pieces.map(({ streamId, bytes, frameEnd }) => ({ streamId, bytes, frameEnd })),
      [{ streamId: 4, bytes: Buffer.alloc(0), frameEnd: true }],
    );
    assert.deepEqual(frames, [FrameType.PING]);
  });

  test('a zero-length stream payload whose stream id straddles chunks is delivered once the id is whole', () => {
    const { decoder, pieces } = streamDecoder();
    const frame = streamDataHeader(0x01020304, 0);
    decoder.push(frame.subarray(0, 7));
    assert.equal(pieces.length, 0);
    decoder.push(frame.subarray(7));
    assert.deepEqual(
      pieces.map((p) => [p.streamId, p.bytes.length, p.frameEnd]),
      [[0x01020304, 0, true]],
    );
  });

  for (const length of [0, 1, 2, 3]) {
    test(`declaring ${length} bytes, too few for its stream id, is MUON_ERR_MALFORMED_FRAME`, () => {
      const { decoder, pieces } = streamDecoder();
      expectMuonError(() => decoder.push(header(FrameType.STREAM_DATA, length)), 'MUON_ERR_MALFORMED_FRAME');
      assert.equal(pieces.length, 0);
    });
  }

  test('to a sink without onStreamData (not a multiplexed carrier) is MUON_ERR_UNEXPECTED_FRAME', () => {
    const received: unknown[] = [];
    const decoder = new FrameDecoder({
      onFrame: (type) => received.push(type),
      onData: (piece) => received.push(piece),
    });
    expectMuonError(() => decoder.push(streamDataFrame(1, Buffer.from('hi'))), 'MUON_ERR_UNEXPECTED_FRAME');
    assert.deepEqual(received, []);
  });

  // maxFrameSize bounds the session's bytes a STREAM_DATA frame carries, not counting its stream id,
  // as it bounds DATA's payload: the declared length may be maxFrameSize + STREAM_ID_SIZE.
  test('carrying more than maxFrameSize bytes after its stream id is MUON_ERR_FRAME_TOO_LARGE from its header alone', () => {
    const { decoder, pieces } = streamDecoder({ maxFrameSize: 1000 });
    const h = streamDataHeader(1, 1001);
    assert.equal(h.readUInt32BE(1), 1001 + STREAM_ID_SIZE, 'the declared length counts the stream id');
    expectMuonError(() => decoder.push(h.subarray(0, FRAME_HEADER_SIZE)), 'MUON_ERR_FRAME_TOO_LARGE');
    assert.equal(pieces.length, 0);
  });

  test('carrying exactly maxFrameSize bytes after its stream id is accepted', () => {
    const { decoder, pieces } = streamDecoder({ maxFrameSize: 1000 });
    const payload = bytesOf(1000, 5);
    decoder.push(streamDataFrame(1, payload));
    assert.deepEqual(framesOf(pieces), [{ streamId: 1, bytes: payload }]);
  });

  test('a full frame of STREAM_MAX_PAYLOAD bytes passes the smallest configurable maxFrameSize (65,536)', () => {
    assert.equal(STREAM_MAX_PAYLOAD, 65_536);
    const { decoder, pieces } = streamDecoder({ maxFrameSize: 65_536 });
    const payload = bytesOf(STREAM_MAX_PAYLOAD, 7);
    decoder.push(streamDataFrame(3, payload));
    assert.deepEqual(framesOf(pieces), [{ streamId: 3, bytes: payload }]);
  });

  test('may be larger than MAX_CONTROL_SIZE: it is data, not a control frame', () => {
    const { decoder, pieces } = streamDecoder();
    const payload = bytesOf(MAX_CONTROL_SIZE + 1, 6);
    decoder.push(streamDataFrame(2, payload));
    assert.deepEqual(framesOf(pieces), [{ streamId: 2, bytes: payload }]);
  });
});
