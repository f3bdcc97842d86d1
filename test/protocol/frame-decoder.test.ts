// Specification of FrameDecoder: the preamble, the limits it enforces before buffering,
// its behaviour after an error, and how DATA passes through without being copied.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FrameDecoder } from '../../src/protocol/frame-decoder.ts';
import {
  DEFAULT_MAX_FRAME_SIZE,
  FRAME_HEADER_SIZE,
  FrameType,
  MAGIC,
  MAX_CONTROL_SIZE,
  PREAMBLE,
  PREAMBLE_SIZE,
  PROTOCOL_VERSION,
} from '../../src/protocol/frame-types.ts';
import { dataHeader, encodeMessage } from '../../src/protocol/messages.ts';
import {
  bytesOf,
  decodeChunks,
  encodeStream,
  expectMuonError,
  FIXTURES,
  isDataItem,
  recordingDecoder,
  sample,
  splitAt,
} from './fixtures.ts';

interface RawFrame {
  type: number;
  payload: Buffer;
}

/** A decoder that records raw frames and DATA pieces exactly as handed to the sink. */
function rawDecoder(options: ConstructorParameters<typeof FrameDecoder>[1] = {}) {
  const frames: RawFrame[] = [];
  const pieces: Buffer[] = [];
  const decoder = new FrameDecoder(
    {
      onFrame: (type, payload) => frames.push({ type, payload: Buffer.from(payload) }),
      onData: (piece) => pieces.push(piece),
    },
    options,
  );
  return { decoder, frames, pieces };
}

function header(type: number, length: number): Buffer {
  const h = Buffer.alloc(FRAME_HEADER_SIZE);
  h[0] = type;
  h.writeUInt32BE(length, 1);
  return h;
}

describe('the preamble', () => {
  test('is consumed before the first frame when the decoder expects it', () => {
    const stream = Buffer.concat([PREAMBLE, encodeMessage(sample('CHALLENGE'))]);
    assert.deepEqual(decodeChunks([stream], { expectPreamble: true }), [
      { kind: 'message', message: sample('CHALLENGE') },
    ]);
  });

  test('is MUON followed by the version byte 1', () => {
    assert.deepEqual([...PREAMBLE], [0x4d, 0x55, 0x4f, 0x4e, 1]);
    assert.equal(PREAMBLE_SIZE, 5);
    assert.equal(PROTOCOL_VERSION, 1);
  });

  test('is not expected unless asked for', () => {
    const stream = encodeMessage(sample('PING'));
    assert.deepEqual(decodeChunks([stream]), [{ kind: 'message', message: sample('PING') }]);
  });

  test('with wrong magic bytes is rejected with MUON_ERR_BAD_MAGIC', () => {
    const { decoder } = rawDecoder({ expectPreamble: true });
    expectMuonError(() => decoder.push(Buffer.from('GET / HTTP/1.1\r\n')), 'MUON_ERR_BAD_MAGIC');
  });

  test('with wrong magic bytes is rejected even when it arrives a byte at a time', () => {
    const { decoder } = rawDecoder({ expectPreamble: true });
    const bad = Buffer.from('SSH-2');
    for (let i = 0; i < bad.length - 1; i++) decoder.push(bad.subarray(i, i + 1));
    expectMuonError(() => decoder.push(bad.subarray(bad.length - 1)), 'MUON_ERR_BAD_MAGIC');
  });

  for (const version of [0, 2, 255]) {
    test(`announcing version ${version} is rejected with MUON_ERR_UNSUPPORTED_VERSION`, () => {
      const { decoder } = rawDecoder({ expectPreamble: true });
      const error = expectMuonError(
        () => decoder.push(Buffer.concat([MAGIC, Buffer.from([version])])),
        'MUON_ERR_UNSUPPORTED_VERSION',
      );
      assert.match(error.message, new RegExp(`version ${version}`));
    });
  }
});

describe('frame size limits', () => {
  test('a DATA frame longer than maxFrameSize is rejected as soon as its 5-byte header arrives', () => {
    const { decoder, pieces } = rawDecoder({ maxFrameSize: 1000 });
    expectMuonError(() => decoder.push(dataHeader(1001)), 'MUON_ERR_FRAME_TOO_LARGE');
    assert.equal(pieces.length, 0);
  });

  test('the default maxFrameSize is 1 MiB and a header declaring one byte more is rejected', () => {
    assert.equal(DEFAULT_MAX_FRAME_SIZE, 1024 * 1024);
    const { decoder } = rawDecoder();
    expectMuonError(() => decoder.push(dataHeader(DEFAULT_MAX_FRAME_SIZE + 1)), 'MUON_ERR_FRAME_TOO_LARGE');
  });

  test('a header declaring 4 GiB is rejected even when split across chunks', () => {
    const { decoder } = rawDecoder();
    const h = header(FrameType.DATA, 0xffff_ffff);
    decoder.push(h.subarray(0, 3));
    expectMuonError(() => decoder.push(h.subarray(3)), 'MUON_ERR_FRAME_TOO_LARGE');
  });

  test('a DATA frame of exactly maxFrameSize is accepted', () => {
    const { decoder, pieces } = rawDecoder({ maxFrameSize: 1000 });
    decoder.push(Buffer.concat([dataHeader(1000), bytesOf(1000, 1)]));
    assert.deepEqual(Buffer.concat(pieces), bytesOf(1000, 1));
  });

  test('a control frame longer than maxFrameSize is rejected from its header alone', () => {
    const { decoder, frames } = rawDecoder({ maxFrameSize: 100 });
    expectMuonError(() => decoder.push(header(FrameType.KICK, 101)), 'MUON_ERR_FRAME_TOO_LARGE');
    assert.equal(frames.length, 0);
  });

  test('a control frame above MAX_CONTROL_SIZE is rejected even when maxFrameSize would allow it', () => {
    assert.equal(MAX_CONTROL_SIZE, 64 * 1024);
    const { decoder } = rawDecoder({ maxFrameSize: 10 * 1024 * 1024 });
    expectMuonError(
      () => decoder.push(header(FrameType.AUTH_OK, MAX_CONTROL_SIZE + 1)),
      'MUON_ERR_FRAME_TOO_LARGE',
    );
  });

  test('a control frame of exactly MAX_CONTROL_SIZE is accepted', () => {
    const { decoder, frames } = rawDecoder();
    const payload = bytesOf(MAX_CONTROL_SIZE, 2);
    decoder.push(Buffer.concat([header(FrameType.AUTH_OK, MAX_CONTROL_SIZE), payload]));
    assert.equal(frames.length, 1);
    assert.deepEqual(frames[0]?.payload, payload);
  });

  test('a DATA frame may be larger than MAX_CONTROL_SIZE', () => {
    const { decoder, pieces } = rawDecoder();
    decoder.push(Buffer.concat([dataHeader(MAX_CONTROL_SIZE + 1), bytesOf(MAX_CONTROL_SIZE + 1, 3)]));
    assert.equal(Buffer.concat(pieces).length, MAX_CONTROL_SIZE + 1);
  });
});

describe('malformed input', () => {
  for (const type of [0x00, 0x0a, 0x0f, 0x15, 0x1f, 0x24, 0xff]) {
    test(`an unknown frame type 0x${type.toString(16)} is rejected with MUON_ERR_MALFORMED_FRAME`, () => {
      const { decoder } = rawDecoder();
      expectMuonError(() => decoder.push(header(type, 0)), 'MUON_ERR_MALFORMED_FRAME');
    });
  }

  test('the decoder refuses all further input after it has thrown', () => {
    const { decoder, frames } = rawDecoder();
    expectMuonError(() => decoder.push(header(0xee, 0)), 'MUON_ERR_MALFORMED_FRAME');
    expectMuonError(() => decoder.push(encodeMessage(sample('PING'))), 'MUON_ERR_MALFORMED_FRAME');
    expectMuonError(() => decoder.push(Buffer.alloc(0)), 'MUON_ERR_MALFORMED_FRAME');
    assert.equal(frames.length, 0);
  });

  test('the decoder refuses further input after its sink has thrown', () => {
    const decoder = new FrameDecoder({
      onFrame: () => {
        throw new Error('sink failed');
      },
      onData: () => {},
    });
    assert.throws(() => decoder.push(encodeMessage(sample('PING'))), /sink failed/);
    expectMuonError(() => decoder.push(encodeMessage(sample('PING'))), 'MUON_ERR_MALFORMED_FRAME');
  });

  test('frames before an error are delivered, frames after it in the same chunk are not', () => {
    const { decoder, frames } = rawDecoder();
    const chunk = Buffer.concat([
      encodeMessage(sample('PING')),
      header(0xee, 0),
      encodeMessage(sample('PONG')),
    ]);
    expectMuonError(() => decoder.push(chunk), 'MUON_ERR_MALFORMED_FRAME');
    assert.deepEqual(
      frames.map((f) => f.type),
      [FrameType.PING],
    );
  });
});

describe('buffering', () => {
  test('never holds more than one header or one control frame, whatever the chunking', () => {
    // A STREAM_DATA frame's stream id (4 bytes) is held like a header; its payload streams through.
    for (const fixture of FIXTURES) {
      const stream = encodeStream(fixture.items, fixture.preamble);
      const largestControl = Math.max(
        ...fixture.items.map((item) => (isDataItem(item) ? 0 : encodeMessage(item).length)),
      );
      const limit = Math.max(PREAMBLE_SIZE, FRAME_HEADER_SIZE, largestControl);
      for (const size of [1, 2, 3, 7, 64]) {
        const { decoder } = recordingDecoder({ expectPreamble: fixture.preamble });
        for (let at = 0; at < stream.length; at += size) {
          decoder.push(stream.subarray(at, at + size));
          assert.ok(decoder.bufferedBytes <= limit, `${decoder.bufferedBytes} bytes held in ${fixture.name}`);
        }
        assert.equal(decoder.bufferedBytes, 0, `bytes left over in ${fixture.name}`);
      }
    }
  });

  test('holds no bytes at all while a DATA payload streams through', () => {
    const { decoder, pieces } = rawDecoder();
    decoder.push(dataHeader(10_000));
    for (let i = 0; i < 10; i++) {
      decoder.push(bytesOf(1000, i));
      assert.equal(decoder.bufferedBytes, 0);
    }
    assert.equal(Buffer.concat(pieces).length, 10_000);
  });

  test('a control frame fed one byte at a time costs time linear in its size', () => {
    // Re-concatenating the held bytes on every chunk would copy ~2 GB for 64 KiB fed byte by
    // byte: a cheap way for a peer to burn our CPU. Compare sizes 8x apart, so machine speed
    // cancels out: linear growth gives a ratio near 8, quadratic near 64.
    const timeFor = (size: number): number => {
      const frame = encodeMessage({ type: 'KICK', code: 'MUON_ERR_SHUTDOWN', message: 'x'.repeat(size) });
      let best = Number.POSITIVE_INFINITY;
      for (let run = 0; run < 3; run++) {
        const { decoder, frames } = rawDecoder();
        const started = performance.now();
        for (let i = 0; i < frame.length; i++) decoder.push(frame.subarray(i, i + 1));
        best = Math.min(best, performance.now() - started);
        assert.equal(frames.length, 1);
      }
      return best;
    };
    timeFor(8_000);
    const ratio = timeFor(64_000) / timeFor(8_000);
    assert.ok(ratio < 25, `64 KB took ${ratio.toFixed(1)}x as long as 8 KB`);
  });
});

describe('DATA frames', () => {
  test('a chunk holding exactly one DATA piece is handed to the sink as that very buffer', () => {
    const { decoder, pieces } = rawDecoder();
    decoder.push(dataHeader(6));
    const chunk = Buffer.from('abcdef');
    decoder.push(chunk);
    assert.equal(pieces.length, 1);
    assert.equal(pieces[0], chunk);
  });

  test('DATA pieces are views into the chunk they arrived in, not copies', () => {
    const { decoder, pieces } = rawDecoder();
    const chunk = Buffer.concat([dataHeader(3), Buffer.from('abc'), encodeMessage(sample('END'))]);
    decoder.push(chunk);
    assert.equal(pieces.length, 1);
    assert.equal(pieces[0]?.buffer, chunk.buffer);
    assert.equal(pieces[0]?.byteOffset, chunk.byteOffset + FRAME_HEADER_SIZE);
    assert.deepEqual(pieces[0], Buffer.from('abc'));
  });

  test('DATA after a header split across chunks is still a view into the second chunk', () => {
    const { decoder, pieces } = rawDecoder();
    const frame = Buffer.concat([dataHeader(4096), bytesOf(4096, 4)]);
    decoder.push(frame.subarray(0, 2));
    const rest = frame.subarray(2);
    decoder.push(rest);
    assert.equal(pieces.length, 1);
    assert.equal(pieces[0]?.buffer, rest.buffer);
    assert.equal(pieces[0]?.byteOffset, rest.byteOffset + FRAME_HEADER_SIZE - 2);
    assert.deepEqual(pieces[0], bytesOf(4096, 4));
  });

  test('a payload split over several chunks arrives as several pieces in order', () => {
    const { decoder, pieces } = rawDecoder();
    const payload = bytesOf(300, 5);
    decoder.push(Buffer.concat([dataHeader(300), payload.subarray(0, 100)]));
    decoder.push(payload.subarray(100, 250));
    decoder.push(payload.subarray(250));
    assert.deepEqual(
      pieces.map((p) => p.length),
      [100, 150, 50],
    );
    assert.deepEqual(Buffer.concat(pieces), payload);
  });

  test('a zero-length DATA frame yields one empty piece and does not disturb the next frame', () => {
    const { decoder, frames, pieces } = rawDecoder();
    decoder.push(Buffer.concat([dataHeader(0), encodeMessage(sample('END'))]));
    assert.deepEqual(pieces, [Buffer.alloc(0)], 'an empty UDP datagram is still a datagram');
    assert.deepEqual(frames, [{ type: FrameType.END, payload: Buffer.alloc(0) }]);
  });

  test('a control frame with an empty payload is delivered as soon as its header is complete', () => {
    const { decoder, frames } = rawDecoder();
    decoder.push(Buffer.concat([dataHeader(2), Buffer.from('hi'), encodeMessage(sample('END'))]));
    assert.equal(frames.length, 1);
    decoder.push(encodeMessage(sample('CONNECTED')));
    assert.equal(frames.length, 2);
  });

  test('control frames interleaved with DATA keep their order', () => {
    const items = FIXTURES[2]?.items ?? [];
    const stream = encodeStream(items, true);
    const observed = decodeChunks(splitAt(stream, [7, 40, 41, 300]), { expectPreamble: true });
    assert.deepEqual(
      observed.map((o) => (o.kind === 'message' ? o.message.type : 'DATA')),
      ['CHALLENGE', 'CONNECT', 'DATA', 'END', 'CONNECT', 'DATA', 'DISCONNECT'],
    );
  });
});

describe('stop() (a raw session after CONNECTED)', () => {
  test('push() returns the bytes after the frame being handled, undecoded; later chunks come back whole', () => {
    const connected = encodeMessage({ type: 'CONNECTED' });
    const raw = Buffer.from('not a frame at all');
    const seen: string[] = [];
    const decoder: FrameDecoder = new FrameDecoder({
      onFrame: (type) => {
        seen.push(`frame ${type}`);
        decoder.stop();
      },
      onData: () => seen.push('data'),
    });
    const rest = decoder.push(Buffer.concat([connected, raw]));
    assert.deepEqual(seen, [`frame ${FrameType.CONNECTED}`]);
    assert.equal(rest.toString(), raw.toString());
    assert.equal(decoder.push(raw).toString(), raw.toString());
    assert.deepEqual(seen, [`frame ${FrameType.CONNECTED}`]);
  });

  test('a chunk that ends with the frame leaves nothing, and without stop() nothing is returned', () => {
    const decoder: FrameDecoder = new FrameDecoder({ onFrame: () => decoder.stop(), onData: () => {} });
    assert.equal(decoder.push(encodeMessage({ type: 'CONNECTED' })).length, 0);
    const plain = new FrameDecoder({ onFrame: () => {}, onData: () => {} });
    assert.equal(
      plain.push(Buffer.concat([encodeMessage({ type: 'END' }), dataHeader(3), Buffer.from('abc')])).length,
      0,
    );
  });
});
