import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatHostPort, parseHostPort } from '../../src/config/host-port.ts';

test('parses host names, IPv4 and bracketed IPv6', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:22'), { host: '127.0.0.1', port: 22 });
  assert.deepEqual(parseHostPort('db.internal:5432'), { host: 'db.internal', port: 5432 });
  assert.deepEqual(parseHostPort('localhost:65535'), { host: 'localhost', port: 65535 });
  assert.deepEqual(parseHostPort('[::1]:22'), { host: '::1', port: 22 });
  assert.deepEqual(parseHostPort('[2001:db8::5]:8080'), { host: '2001:db8::5', port: 8080 });
});

test('rejects what is not host:port', () => {
  for (const bad of [
    '127.0.0.1',
    ':22',
    'host:',
    'host:0',
    'host:65536',
    'host:22x',
    '::1:22',
    '[::1]22',
    '[::1]',
    '[example.com]:22',
    'bad host:22',
    'a..b:22',
  ]) {
    assert.equal(parseHostPort(bad), undefined, bad);
  }
});

test('formatHostPort brackets IPv6', () => {
  assert.equal(formatHostPort({ host: '::1', port: 22 }), '[::1]:22');
  assert.equal(formatHostPort({ host: 'example.com', port: 9443 }), 'example.com:9443');
});
