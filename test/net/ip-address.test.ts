// IP address parsing: every IPv4 and IPv6 spelling Node accepts maps to one number and back to
// its canonical text; IPv4-mapped IPv6 addresses are seen as the IPv4 address they carry.

import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { formatIp, isMappedBlock, parseIp, unmapIpv4 } from '../../src/net/ip-address.ts';

describe('parseIp / formatIp', () => {
  test('known spellings', () => {
    const cases: [string, 4 | 6, bigint, string][] = [
      ['10.0.0.1', 4, 0x0a000001n, '10.0.0.1'],
      ['0.0.0.0', 4, 0n, '0.0.0.0'],
      ['255.255.255.255', 4, 0xffffffffn, '255.255.255.255'],
      ['::', 6, 0n, '::'],
      ['::1', 6, 1n, '::1'],
      ['2001:DB8::1', 6, (0x20010db8n << 96n) | 1n, '2001:db8::1'],
      ['::ffff:10.0.0.1', 6, (0xffffn << 32n) | 0x0a000001n, '::ffff:a00:1'],
      ['::10.0.0.1', 6, 0x0a000001n, '::a00:1'],
      ['1:2:3:4:5:6:1.2.3.4', 6, 0x0001000200030004000500060102_0304n, '1:2:3:4:5:6:102:304'],
      ['1::1.2.3.4', 6, (1n << 112n) | 0x01020304n, '1::102:304'],
      ['fe80::1%eth0', 6, (0xfe80n << 112n) | 1n, 'fe80::1'],
      ['1:0:0:2:0:0:0:3', 6, (1n << 112n) | (2n << 64n) | 3n, '1:0:0:2::3'],
    ];
    for (const [text, family, value, canonical] of cases) {
      assert.deepEqual(parseIp(text), { family, value }, text);
      assert.equal(formatIp({ family, value }), canonical, text);
    }
  });

  test('what is not an address', () => {
    for (const text of ['', 'localhost', '10.0.0', '10.0.0.256', '1.2.3.4/8', ':::', '1::2::3', 'g::1']) {
      assert.equal(parseIp(text), undefined, text);
    }
  });

  test('property: any IPv6 value prints to text that parses back to it (and Node agrees it is IPv6)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (value) => {
        const text = formatIp({ family: 6, value });
        assert.ok(isIPv6(text), text);
        assert.deepEqual(parseIp(text), { family: 6, value });
      }),
      { numRuns: 2000 },
    );
  });

  test('property: any IPv4 value round-trips, bare and embedded in IPv6', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 0xffffffffn }), (value) => {
        const text = formatIp({ family: 4, value });
        assert.deepEqual(parseIp(text), { family: 4, value });
        assert.deepEqual(unmapIpv4(parseIp(`::ffff:${text}`) ?? { family: 6, value: -1n }), {
          family: 4,
          value,
        });
        assert.deepEqual(parseIp(`64:ff9b::${text}`), { family: 6, value: (0x64ff9bn << 96n) | value });
      }),
      { numRuns: 2000 },
    );
  });
});

describe('IPv4-mapped addresses', () => {
  test('unmapIpv4 turns only ::ffff:0:0/96 into IPv4', () => {
    const mapped = parseIp('::ffff:192.0.2.7');
    assert.ok(mapped);
    assert.deepEqual(unmapIpv4(mapped), parseIp('192.0.2.7'));
    for (const text of ['::192.0.2.7', '::1:ffff:c000:207', '2001:db8::1', '10.0.0.1']) {
      const address = parseIp(text);
      assert.ok(address);
      assert.deepEqual(unmapIpv4(address), address, text);
    }
  });

  test('isMappedBlock: a block inside ::ffff:0:0/96', () => {
    const value = (text: string) => parseIp(text)?.value ?? -1n;
    assert.equal(isMappedBlock(value('::ffff:0:0'), 96), true);
    assert.equal(isMappedBlock(value('::ffff:10.0.0.0'), 104), true);
    assert.equal(isMappedBlock(value('::'), 80), false, 'a wider block is not only IPv4');
    assert.equal(isMappedBlock(value('::'), 96), false);
  });
});
