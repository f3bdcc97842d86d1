// Failed authentications are counted per IPv4 address but per IPv6 /64: a host holding one IPv6
// address can use any of its /64, so exact addresses would give a guesser a new count per try.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FailureLimiter, failureKey } from '../../src/net/failure-limiter.ts';
import { formatIp, networkOf, parseIp } from '../../src/net/ip-address.ts';

test('networkOf clears the bits below the prefix', () => {
  const v6 = parseIp('2001:db8:1:2:3:4:5:6');
  const v4 = parseIp('192.0.2.77');
  assert.ok(v6 && v4);
  assert.equal(formatIp(networkOf(v6, 64)), '2001:db8:1:2::');
  assert.equal(formatIp(networkOf(v6, 128)), '2001:db8:1:2:3:4:5:6');
  assert.equal(formatIp(networkOf(v6, 0)), '::');
  assert.equal(formatIp(networkOf(v4, 24)), '192.0.2.0');
  assert.equal(formatIp(networkOf(v4, 32)), '192.0.2.77');
});

test('an IPv6 address is counted under its /64, however it is written', () => {
  for (const written of [
    '2001:db8:1:2::a',
    '2001:db8:1:2::b',
    '2001:0db8:0001:0002:0000:0000:0000:000a',
    '2001:DB8:1:2:ABCD:EF01:2345:6789',
    '2001:db8:1:2:ffff:ffff:ffff:ffff',
    '2001:db8:1:2::',
    '2001:db8:1:2:0:0:c000:221',
    '2001:db8:1:2::192.0.2.33',
    '2001:db8:1:2::a%eth0',
  ]) {
    assert.equal(failureKey(written), '2001:db8:1:2::/64', written);
  }
  assert.equal(failureKey('2001:db8:1:3::a'), '2001:db8:1:3::/64', 'the next /64 is another key');
  assert.equal(failureKey('2001:db8::1'), '2001:db8::/64');
  assert.equal(failureKey('::1'), '::/64');
  assert.equal(failureKey('::'), '::/64');
  assert.equal(failureKey('ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), 'ffff:ffff:ffff:ffff::/64');
});

test('link-local addresses lose their zone: every fe80:: address is the same /64', () => {
  assert.equal(failureKey('fe80::1%eth0'), 'fe80::/64');
  assert.equal(failureKey('fe80::fc:ff:fe00:1%2'), 'fe80::/64');
  assert.equal(failureKey('FE80::ABCD%lo'), 'fe80::/64');
});

test('an IPv4 address is counted alone, also when a dual-stack socket reports it mapped', () => {
  assert.equal(failureKey('203.0.113.7'), '203.0.113.7');
  assert.equal(failureKey('203.0.113.8'), '203.0.113.8', 'neighbours are not grouped');
  for (const mapped of [
    '::ffff:203.0.113.7',
    '::FFFF:203.0.113.7',
    '0:0:0:0:0:ffff:203.0.113.7',
    '0000:0000:0000:0000:0000:ffff:cb00:7107',
    '::ffff:cb00:7107',
  ]) {
    assert.equal(failureKey(mapped), '203.0.113.7', mapped);
  }
  // Other IPv6 forms that embed an IPv4 address are IPv6 addresses like any other.
  assert.equal(failureKey('64:ff9b::192.0.2.1'), '64:ff9b::/64');
});

test('what is not an address is its own key', () => {
  for (const key of ['user:alice', '', 'unknown', '2001:db8::/64', '203.0.113.7:443', '[::1]']) {
    assert.equal(failureKey(key), key);
  }
});

test('two addresses of one /64 share one limit; other /64s and IPv4 neighbours keep their own', () => {
  const limiter = new FailureLimiter({ maxFailures: 3, windowMs: 60_000, now: () => 0 });
  limiter.fail('2001:db8:1:2::a');
  limiter.fail('2001:db8:1:2:dead:beef:0:1');
  limiter.fail('2001:DB8:1:2::A%eth0');
  assert.equal(limiter.blocked('2001:db8:1:2::b'), true, 'a fresh address in the same /64');
  assert.equal(limiter.blocked('2001:db8:1:3::a'), false, 'another /64');

  limiter.fail('198.51.100.1');
  limiter.fail('::ffff:198.51.100.1');
  limiter.fail('198.51.100.1');
  assert.equal(limiter.blocked('::ffff:198.51.100.1'), true, 'mapped and plain IPv4 are one address');
  assert.equal(limiter.blocked('198.51.100.2'), false, 'IPv4 stays per address');
  assert.equal(limiter.blocked('::ffff:198.51.100.2'), false);
});

test('addresses spread over one /64 take one entry, so they cannot push others out', () => {
  const limiter = new FailureLimiter({ maxFailures: 5, windowMs: 60_000, maxAddresses: 10 });
  limiter.fail('192.0.2.1');
  for (let i = 0; i < 1000; i++) limiter.fail(`2001:db8:1:2:${i.toString(16)}::1`);
  assert.equal(limiter.size, 2);
  assert.equal(limiter.blocked('192.0.2.1'), false);
  assert.equal(limiter.blocked('2001:db8:1:2::1'), true);
});
