// Specification of datagram boundaries on a proxy channel: each DATA frame of a UDP session is
// exactly one datagram. Fed through a FrameDecoder cut at every byte offset, a DatagramAssembler
// gives back the datagrams sent, empty ones included; one above the UDP maximum is refused
// before it is buffered.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DatagramAssembler, MAX_DATAGRAM_SIZE } from '../../src/protocol/datagram-assembler.ts';
import { FrameDecoder } from '../../src/protocol/frame-decoder.ts';
import { dataHeader, encodeMessage } from '../../src/protocol/messages.ts';
import { bytesOf, expectMuonError, sample, splitAt } from './fixtures.ts';

/** A decoder whose DATA goes through an assembler; returns what came out. */
function receiver() {
  const datagrams: Buffer[] = [];
  const messages: string[] = [];
  const assembler = new DatagramAssembler((d) => datagrams.push(Buffer.from(d)));
  const decoder = new FrameDecoder({
    onFrame: (type) => messages.push(type.toString(16)),
    onData: (piece, frameEnd) => assembler.push(piece, frameEnd),
  });
  return { decoder, assembler, datagrams, messages };
}

function frames(datagrams: readonly Buffer[]): Buffer {
  return Buffer.concat(datagrams.flatMap((d) => [dataHeader(d.length), d]));
}

describe('datagram boundaries', () => {
  const small = [bytesOf(1, 1), Buffer.alloc(0), bytesOf(300, 2), bytesOf(7, 3), Buffer.alloc(0)];

  test('survive every cut of the stream into two chunks, empty datagrams included', () => {
    const stream = Buffer.concat([frames(small), encodeMessage(sample('END'))]);
    for (let cut = 0; cut <= stream.length; cut++) {
      const { decoder, datagrams, messages } = receiver();
      for (const chunk of splitAt(stream, [cut])) decoder.push(chunk);
      assert.deepEqual(datagrams, small, `cut at ${cut}`);
      assert.deepEqual(messages, ['13'], 'END follows the last datagram');
    }
  });

  test('survive a stream fed one byte at a time', () => {
    const { decoder, datagrams } = receiver();
    const stream = frames(small);
    for (let at = 0; at < stream.length; at++) decoder.push(stream.subarray(at, at + 1));
    assert.deepEqual(datagrams, small);
  });

  test('keep 1, 1000 and 60,000-byte datagrams apart, cut anywhere in the largest', () => {
    const sizes = [bytesOf(1, 4), bytesOf(1000, 5), bytesOf(60_000, 6), bytesOf(MAX_DATAGRAM_SIZE, 7)];
    const stream = frames(sizes);
    for (const cut of [6, 1007, 1011, 1012, 30_000, 61_010, 61_011, stream.length - 1]) {
      const { decoder, datagrams } = receiver();
      for (const chunk of splitAt(stream, [cut])) decoder.push(chunk);
      assert.deepEqual(
        datagrams.map((d) => d.length),
        [1, 1000, 60_000, MAX_DATAGRAM_SIZE],
        `cut at ${cut}`,
      );
      assert.deepEqual(datagrams, sizes);
    }
  });

  test('a frame one byte above the UDP maximum is refused, holding no more than the maximum', () => {
    const { decoder, assembler } = receiver();
    const payload = bytesOf(MAX_DATAGRAM_SIZE + 1, 8);
    decoder.push(Buffer.concat([dataHeader(payload.length), payload.subarray(0, MAX_DATAGRAM_SIZE)]));
    assert.equal(assembler.bufferedBytes, MAX_DATAGRAM_SIZE);
    expectMuonError(() => decoder.push(payload.subarray(MAX_DATAGRAM_SIZE)), 'MUON_ERR_FRAME_TOO_LARGE');
    assert.equal(assembler.bufferedBytes, 0, 'the partial datagram was dropped');
  });

  test('a single oversized piece is refused without being kept', () => {
    const assembler = new DatagramAssembler(() => assert.fail('no datagram expected'));
    expectMuonError(
      () => assembler.push(Buffer.alloc(MAX_DATAGRAM_SIZE + 1), true),
      'MUON_ERR_FRAME_TOO_LARGE',
    );
    assert.equal(assembler.bufferedBytes, 0);
  });

  test('a datagram that arrives whole is handed on as the very piece, not a copy', () => {
    const seen: Buffer[] = [];
    const assembler = new DatagramAssembler((d) => seen.push(d));
    const piece = bytesOf(10, 9);
    assembler.push(piece, true);
    assert.equal(seen[0], piece);
  });
});
