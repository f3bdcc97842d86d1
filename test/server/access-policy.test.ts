// Security group evaluation: first matching rule in order decides, the default otherwise; IPv4
// and IPv6, single addresses and blocks; IPv4-mapped visitors meet IPv4 rules. Checked against
// Node's own BlockList as an independent oracle for CIDR containment.

import assert from 'node:assert/strict';
import { BlockList } from 'node:net';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { formatIp } from '../../src/net/ip-address.ts';
import { AccessPolicy } from '../../src/server/access-policy.ts';
import type { AccessAction, AccessRule } from '../../src/server/directory.ts';

function policy(defaultAction: AccessAction, ...rules: [AccessAction, string][]): AccessPolicy {
  return new AccessPolicy({
    id: 'g',
    defaultAction,
    rules: rules.map(([action, cidr]): AccessRule => ({ action, cidr })),
  });
}

describe('AccessPolicy', () => {
  test('the first matching rule decides; the default applies when none matches', () => {
    const office = policy('deny', ['deny', '10.9.0.0/16'], ['allow', '10.0.0.0/8'], ['allow', '192.0.2.7']);
    assert.equal(office.allows('10.1.2.3'), true);
    assert.equal(office.allows('10.9.2.3'), false, 'the earlier deny wins over the later allow');
    assert.equal(office.allows('192.0.2.7'), true, 'a single address');
    assert.equal(office.allows('192.0.2.8'), false, 'the default');
    const open = policy('allow', ['deny', '203.0.113.0/24']);
    assert.equal(open.allows('203.0.113.99'), false);
    assert.equal(open.allows('198.51.100.1'), true);
    assert.equal(policy('deny').allows('127.0.0.1'), false, 'no rules: the default');
    assert.equal(policy('allow').allows('::1'), true);
  });

  test('IPv6 rules match IPv6 visitors; zones are ignored', () => {
    const p = policy('deny', ['allow', '2001:db8::/32'], ['allow', '::1']);
    assert.equal(p.allows('2001:db8:1::5'), true);
    assert.equal(p.allows('2001:DB9::5'), false);
    assert.equal(p.allows('::1'), true);
    assert.equal(p.allows('fe80::1%eth0'), false);
    assert.equal(policy('deny', ['allow', 'fe80::/10']).allows('fe80::1%eth0'), true);
  });

  test('IPv4-mapped visitors meet IPv4 rules, never IPv6 ones; mapped rules are IPv4 rules', () => {
    const v4 = policy('deny', ['allow', '10.0.0.0/8']);
    assert.equal(v4.allows('::ffff:10.0.0.1'), true);
    assert.equal(v4.allows('::FFFF:10.0.0.1'), true);
    assert.equal(v4.allows('::ffff:11.0.0.1'), false);
    assert.equal(policy('deny', ['allow', '::/0']).allows('::ffff:10.0.0.1'), false, '::/0 is IPv6 only');
    assert.equal(policy('allow', ['deny', '::/0']).allows('10.0.0.1'), true);
    assert.equal(policy('deny', ['allow', '0.0.0.0/0']).allows('::1'), false, '0.0.0.0/0 is IPv4 only');
    const mapped = policy('deny', ['allow', '::ffff:10.0.0.0/104']);
    assert.equal(mapped.allows('10.200.0.1'), true);
    assert.equal(mapped.allows('::ffff:10.200.0.1'), true);
    assert.equal(mapped.allows('11.0.0.1'), false);
  });

  test('an address that cannot be read is refused; a rule that cannot be read is skipped', () => {
    const p = policy('allow');
    assert.equal(p.allows(undefined), false);
    assert.equal(p.allows('not an address'), false);
    const broken = policy('deny', ['allow', 'garbage'], ['allow', '10.0.0.0/99'], ['allow', '10.0.0.0/8']);
    assert.equal(broken.allows('10.0.0.1'), true);
  });

  test('property: one allow rule admits exactly what BlockList says the block contains', () => {
    const v4 = fc.record({
      family: fc.constant<'ipv4'>('ipv4'),
      network: fc.bigInt({ min: 0n, max: 0xffffffffn }),
      prefix: fc.integer({ min: 0, max: 32 }),
      address: fc.bigInt({ min: 0n, max: 0xffffffffn }),
    });
    const v6 = fc.record({
      family: fc.constant<'ipv6'>('ipv6'),
      network: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
      prefix: fc.integer({ min: 0, max: 128 }),
      address: fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }),
    });
    fc.assert(
      fc.property(fc.oneof(v4, v6), fc.boolean(), ({ family, network, prefix, address }, near) => {
        const f = family === 'ipv4' ? 4 : 6;
        const bits = BigInt(f === 4 ? 32 : 128);
        const host = bits - BigInt(prefix);
        const net = (network >> host) << host;
        // Half the time, an address inside or just around the block, so both answers are common.
        const probe = near ? (net + (address % 3n) - 1n + (1n << bits)) % (1n << bits) : address;
        const cidr = `${formatIp({ family: f, value: net })}/${prefix}`;
        const text = formatIp({ family: f, value: probe });
        const oracle = new BlockList();
        oracle.addSubnet(formatIp({ family: f, value: net }), prefix, family);
        const inside = oracle.check(text, family);
        // An IPv4-mapped visitor is IPv4 to us (on purpose), so IPv6 blocks around it do not match.
        if (f === 6 && probe >> 32n === 0xffffn) return;
        assert.equal(policy('deny', ['allow', cidr]).allows(text), inside, `${text} in ${cidr}`);
        assert.equal(policy('allow', ['deny', cidr]).allows(text), !inside, `${text} in ${cidr}`);
      }),
      { numRuns: 3000 },
    );
  });
});
