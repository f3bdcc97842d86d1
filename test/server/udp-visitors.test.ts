// Specification of a UDP mapping's visitors without sockets: one session per visitor address,
// later datagrams joining it; refused addresses get no session; each waiting session holds a
// bounded queue and only so many sessions may wait for a channel at once; a closed session is
// forgotten and stops counting against the connection limits.

import assert from 'node:assert/strict';
import type { RemoteInfo } from 'node:dgram';
import { describe, test } from 'node:test';
import { RateLimit, Throttle } from '../../src/net/rate-limit.ts';
import type { MappingRecord } from '../../src/server/directory.ts';
import type { Admission } from '../../src/server/traffic-control.ts';
import type { UdpPeer } from '../../src/server/udp-peer.ts';
import { MAX_WAITING_SESSIONS, UdpVisitors } from '../../src/server/udp-visitors.ts';

const MAPPING: MappingRecord = {
  id: 'lab:udp',
  protocol: 'udp',
  publicPort: 5353,
  targetHost: '127.0.0.1',
  targetPort: 53,
  enabled: true,
};

function from(address: string, port: number): RemoteInfo {
  return { address, port, family: address.includes(':') ? 'IPv6' : 'IPv4', size: 0 };
}

function hub(refuse: (address: string) => boolean = () => false) {
  const accepted: UdpPeer[] = [];
  const sent: Array<[string, number, string]> = [];
  let open = 0;
  const visitors = new UdpVisitors({
    mapping: () => MAPPING,
    admit: (address): Admission | undefined => {
      if (refuse(address)) return undefined;
      open++;
      let released = false;
      const release = () => {
        if (!released) open--;
        released = true;
      };
      const throttle = new Throttle([new RateLimit()]);
      return { throttle: { upload: throttle, download: throttle }, release };
    },
    accept: (peer) => accepted.push(peer),
    send: (datagram, address, port) => {
      sent.push([address, port, datagram.toString()]);
      return true;
    },
    idleTimeoutMs: 60_000,
  });
  return { visitors, accepted, sent, open: () => open };
}

describe('UDP visitors of one mapping', () => {
  test('one session per address (ip and port); its later datagrams join it; replies go to it only', () => {
    const { visitors, accepted, sent } = hub();
    visitors.onDatagram(Buffer.from('a1'), from('192.0.2.1', 1000));
    visitors.onDatagram(Buffer.from('b1'), from('192.0.2.1', 1001));
    visitors.onDatagram(Buffer.from('a2'), from('192.0.2.1', 1000));
    assert.equal(accepted.length, 2);
    assert.equal(visitors.size, 2);
    const [a, b] = accepted as [UdpPeer, UdpPeer];
    const got: string[] = [];
    a.start(
      (d) => got.push(d.toString()),
      () => {},
    );
    assert.deepEqual(got, ['a1', 'a2'], 'held datagrams come first, in order');
    visitors.onDatagram(Buffer.from('a3'), from('192.0.2.1', 1000));
    assert.deepEqual(got, ['a1', 'a2', 'a3']);
    a.send(Buffer.from('to a'));
    b.send(Buffer.from('to b'));
    assert.deepEqual(sent, [
      ['192.0.2.1', 1000, 'to a'],
      ['192.0.2.1', 1001, 'to b'],
    ]);
  });

  test('a refused address gets no session: each of its datagrams is dropped', () => {
    const { visitors, accepted } = hub((address) => address === '192.0.2.66');
    for (let i = 0; i < 3; i++) visitors.onDatagram(Buffer.from('x'), from('192.0.2.66', 5));
    assert.equal(accepted.length, 0);
    assert.equal(visitors.size, 0);
  });

  test('a closed session is forgotten and released; the next datagram starts a new one', () => {
    const { visitors, accepted, open } = hub();
    visitors.onDatagram(Buffer.from('1'), from('192.0.2.1', 1000));
    assert.equal(open(), 1);
    accepted[0]?.close();
    assert.equal(open(), 0, 'no longer counts against the connection limits');
    assert.equal(visitors.size, 0);
    visitors.onDatagram(Buffer.from('2'), from('192.0.2.1', 1000));
    assert.equal(accepted.length, 2);
    assert.notEqual(accepted[1], accepted[0]);
  });

  test('a waiting session holds at most 64 datagrams; the rest are dropped', () => {
    const { visitors, accepted } = hub();
    for (let i = 0; i < 100; i++) visitors.onDatagram(Buffer.from(String(i)), from('192.0.2.1', 1000));
    const got: string[] = [];
    accepted[0]?.start(
      (d) => got.push(d.toString()),
      () => {},
    );
    assert.equal(got.length, 64);
    assert.equal(got[63], '63', 'the first ones are kept');
    assert.equal(accepted[0]?.droppedWhilePending, 36);
  });

  test(`at most ${MAX_WAITING_SESSIONS} sessions wait for a channel at once; one that starts makes room`, () => {
    const { visitors, accepted } = hub();
    for (let i = 0; i < MAX_WAITING_SESSIONS + 10; i++)
      visitors.onDatagram(Buffer.from('q'), from('198.51.100.1', i + 1));
    assert.equal(accepted.length, MAX_WAITING_SESSIONS);
    accepted[0]?.start(
      () => {},
      () => {},
    );
    visitors.onDatagram(Buffer.from('q'), from('198.51.100.2', 1));
    assert.equal(accepted.length, MAX_WAITING_SESSIONS + 1);
  });

  test('close() ends every session (the relay hears of it) and ignores later datagrams', () => {
    const { visitors, accepted, open } = hub();
    visitors.onDatagram(Buffer.from('1'), from('192.0.2.1', 1000));
    const failures: string[] = [];
    accepted[0]?.start(
      () => {},
      (failure) => failures.push(failure.code),
    );
    visitors.close();
    assert.deepEqual(failures, ['MUON_ERR_SHUTDOWN']);
    assert.equal(open(), 0);
    visitors.onDatagram(Buffer.from('2'), from('192.0.2.2', 1000));
    assert.equal(accepted.length, 1);
  });
});
