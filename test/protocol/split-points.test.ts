// Every fixture stream, split in two at every byte offset and fed byte by byte, must decode to
// exactly what it decodes to in one piece: control frames equal, DATA bytes equal.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeChunks, encodeStream, expectedObservations, FIXTURES, splitAt } from './fixtures.ts';

for (const fixture of FIXTURES) {
  describe(`the ${fixture.name}`, () => {
    const stream = encodeStream(fixture.items, fixture.preamble);
    const expected = expectedObservations(fixture.items);
    const options = { expectPreamble: fixture.preamble };

    test('decodes to the frames it was built from when fed in one chunk', () => {
      assert.deepEqual(decodeChunks([stream], options), expected);
    });

    test('decodes identically when split in two at every byte offset', () => {
      for (let cut = 0; cut <= stream.length; cut++) {
        assert.deepEqual(decodeChunks(splitAt(stream, [cut]), options), expected, `split at ${cut}`);
      }
    });

    test('decodes identically when fed one byte at a time', () => {
      const bytes: Buffer[] = [];
      for (let i = 0; i < stream.length; i++) bytes.push(stream.subarray(i, i + 1));
      assert.deepEqual(decodeChunks(bytes, options), expected);
    });

    test('decodes identically when split in three at every pair of nearby offsets', () => {
      for (let first = 0; first <= stream.length; first += 3) {
        for (let second = first; second <= Math.min(stream.length, first + 12); second++) {
          assert.deepEqual(
            decodeChunks(splitAt(stream, [first, second]), options),
            expected,
            `split at ${first} and ${second}`,
          );
        }
      }
    });
  });
}

test('fixtures concatenated back to back decode as the concatenation of their frames', () => {
  const plain = FIXTURES.filter((f) => !f.preamble);
  const items = [...plain, ...FIXTURES].flatMap((f) => f.items);
  const stream = encodeStream(items, false);
  const expected = expectedObservations(items);
  for (let cut = 0; cut <= stream.length; cut += 5) {
    assert.deepEqual(decodeChunks(splitAt(stream, [cut])), expected, `split at ${cut}`);
  }
});
