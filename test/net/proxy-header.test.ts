// Specification of the PROXY protocol header Muon writes to a target (proxy-protocol.txt): v2's
// byte layout field by field (signature, version and command, family and transport, length,
// addresses, ports) for IPv4 and IPv6, v1's text line for both families, and the UNKNOWN forms
// when the visitor's address is not known. A strict independent parser reads every header back.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeProxyHeader, PROXY_V2_SIGNATURE } from '../../src/net/proxy-header.ts';
import { parseProxyHeader } from '../support/proxy-header-parser.ts';

const v4 = {
  source: { address: '192.0.2.10', port: 56324 },
  destination: { address: '198.51.100.2', port: 443 },
};
const v6 = {
  source: { address: '2001:db8::1', port: 51234 },
  destination: { address: '2001:db8:0:0:0:0:0:80', port: 8443 },
};

describe('PROXY protocol v2', () => {
  test('opens with the 12-byte signature \\r\\n\\r\\n\\0\\r\\nQUIT\\n', () => {
    assert.deepEqual([...PROXY_V2_SIGNATURE], [13, 10, 13, 10, 0, 13, 10, 81, 85, 73, 84, 10]);
    for (const endpoints of [v4, v6, undefined]) {
      assert.deepEqual(encodeProxyHeader('v2', endpoints).subarray(0, 12), PROXY_V2_SIGNATURE);
    }
  });

  test('TCP over IPv4: 0x21 (v2, PROXY), 0x11 (INET, STREAM), length 12, addresses then ports', () => {
    const header = encodeProxyHeader('v2', v4);
    assert.equal(header.length, 16 + 12);
    assert.equal(header[12], 0x21, 'version 2 in the high nibble, command PROXY (1) in the low');
    assert.equal(header[13], 0x11, 'AF_INET in the high nibble, STREAM in the low');
    assert.equal(header.readUInt16BE(14), 12, 'the length counts the address block only, big-endian');
    assert.deepEqual([...header.subarray(16, 20)], [192, 0, 2, 10], 'source address');
    assert.deepEqual([...header.subarray(20, 24)], [198, 51, 100, 2], 'destination address');
    assert.equal(header.readUInt16BE(24), 56324, 'source port');
    assert.equal(header.readUInt16BE(26), 443, 'destination port');
  });

  test('matches a header captured from HAProxy byte for byte', () => {
    // 172.19.0.1:42578 → 172.19.0.3:80, as HAProxy's send-proxy-v2 wrote it.
    const captured = '0d0a0d0a000d0a515549540a' + '2111000c' + 'ac130001ac130003' + 'a6520050';
    const header = encodeProxyHeader('v2', {
      source: { address: '172.19.0.1', port: 42578 },
      destination: { address: '172.19.0.3', port: 80 },
    });
    assert.equal(header.toString('hex'), captured);
  });

  test('TCP over IPv6: 0x21 (INET6, STREAM), length 36, 16-byte addresses then ports', () => {
    const header = encodeProxyHeader('v2', v6);
    assert.equal(header.length, 16 + 36);
    assert.equal(header[12], 0x21);
    assert.equal(header[13], 0x21, 'AF_INET6 (2) in the high nibble, STREAM (1) in the low');
    assert.equal(header.readUInt16BE(14), 36);
    assert.equal(header.subarray(16, 32).toString('hex'), '20010db8000000000000000000000001');
    assert.equal(header.subarray(32, 48).toString('hex'), '20010db8000000000000000000000080');
    assert.equal(header.readUInt16BE(48), 51234);
    assert.equal(header.readUInt16BE(50), 8443);
  });

  test('IPv4 visitors seen through a dual-stack listener (::ffff:a.b.c.d) are sent as TCP over IPv4', () => {
    const header = encodeProxyHeader('v2', {
      source: { address: '::ffff:192.0.2.10', port: 1 },
      destination: { address: '::ffff:198.51.100.2', port: 2 },
    });
    assert.equal(header[13], 0x11);
    assert.deepEqual([...header.subarray(16, 24)], [192, 0, 2, 10, 198, 51, 100, 2]);
  });

  test('mixed families are sent as IPv6, the IPv4 address in its mapped form', () => {
    const header = encodeProxyHeader('v2', { source: v4.source, destination: v6.destination });
    assert.equal(header[13], 0x21);
    assert.equal(header.subarray(16, 32).toString('hex'), '00000000000000000000ffffc000020a');
  });

  test('an unknown visitor gives the PROXY command with the unspecified family and no addresses', () => {
    for (const endpoints of [
      undefined,
      { ...v4, source: { address: '', port: 0 } },
      { ...v4, source: { address: 'visitor.example', port: 1 } },
      { ...v4, destination: { address: '198.51.100.2', port: 70_000 } },
    ]) {
      const header = encodeProxyHeader('v2', endpoints);
      assert.equal(header.toString('hex'), `${PROXY_V2_SIGNATURE.toString('hex')}21000000`);
    }
  });

  test('reads back through a strict parser', () => {
    assert.deepEqual(parseProxyHeader(encodeProxyHeader('v2', v4)), {
      version: 2,
      family: 'TCP4',
      source: v4.source,
      destination: v4.destination,
      length: 28,
    });
    const parsed = parseProxyHeader(encodeProxyHeader('v2', v6));
    assert.equal(parsed?.family, 'TCP6');
    assert.equal(parsed?.source?.port, 51234);
  });
});

describe('PROXY protocol v1', () => {
  test('TCP4: one line, single spaces, decimal ports, CRLF', () => {
    assert.equal(
      encodeProxyHeader('v1', v4).toString('latin1'),
      'PROXY TCP4 192.0.2.10 198.51.100.2 56324 443\r\n',
    );
  });

  test('TCP6: addresses in their compressed textual form', () => {
    assert.equal(
      encodeProxyHeader('v1', v6).toString('latin1'),
      'PROXY TCP6 2001:db8::1 2001:db8::80 51234 8443\r\n',
    );
  });

  test('IPv4-mapped addresses are written as IPv4; no leading zeros anywhere', () => {
    const line = encodeProxyHeader('v1', {
      source: { address: '::ffff:10.0.0.7', port: 0 },
      destination: { address: '10.0.0.1', port: 80 },
    }).toString('latin1');
    assert.equal(line, 'PROXY TCP4 10.0.0.7 10.0.0.1 0 80\r\n');
  });

  test('UNKNOWN when the visitor address is not known', () => {
    assert.equal(encodeProxyHeader('v1').toString('latin1'), 'PROXY UNKNOWN\r\n');
    assert.equal(
      encodeProxyHeader('v1', { ...v4, source: { address: '', port: 0 } }).toString('latin1'),
      'PROXY UNKNOWN\r\n',
    );
  });

  test('the longest line (two full IPv6 addresses, five-digit ports) fits the 107-byte limit', () => {
    const full = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe';
    const header = encodeProxyHeader('v1', {
      source: { address: full, port: 65535 },
      destination: { address: full, port: 65535 },
    });
    assert.ok(header.length <= 107, `${header.length} bytes`);
    assert.equal(parseProxyHeader(header)?.family, 'TCP6');
  });

  test('reads back through a strict parser', () => {
    assert.deepEqual(parseProxyHeader(encodeProxyHeader('v1', v4)), {
      version: 1,
      family: 'TCP4',
      source: v4.source,
      destination: v4.destination,
      length: 46,
    });
    assert.deepEqual(parseProxyHeader(encodeProxyHeader('v1')), {
      version: 1,
      family: 'UNKNOWN',
      length: 15,
    });
  });
});
