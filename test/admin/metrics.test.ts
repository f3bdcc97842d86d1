// /metrics reflects the running tunnel: clients online, open ports, visitors, bytes both ways,
// handshake failures by code, and the setup-latency histogram.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metrics } from '../../src/admin/metrics.ts';
import { combineObservers, NULL_OBSERVER } from '../../src/server/observer.ts';
import { dial, freePort, listenLocal, readAll, waitFor } from '../support/net.ts';
import { RawPeer } from '../support/raw-peer.ts';
import { KEY, license, startStack } from '../support/stack.ts';

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `no series ${series} in:\n${text}`);
  return Number(line.slice(series.length + 1));
}

test('metrics count clients, ports, visitors, bytes, failures and setup latency', async (t) => {
  const target = await listenLocal((socket) => {
    socket.resume();
    socket.on('end', () => socket.end(Buffer.alloc(3000)));
  });
  t.after(() => target.close());
  const port = await freePort();
  let ports = () => 0;
  const metrics = new Metrics(() => ports());
  const stack = await startStack(t, [license('lab', KEY, [{ publicPort: port, targetPort: target.port }])], {
    server: { observer: combineObservers(NULL_OBSERVER, metrics) },
  });
  ports = () => stack.server.publicPorts.length;
  await stack.onlineClient(KEY);

  for (let i = 0; i < 3; i++) {
    const visitor = await dial(port);
    const reply = readAll(visitor);
    visitor.end(Buffer.alloc(1000));
    assert.equal((await reply).length, 3000);
    visitor.destroy();
  }
  const bad = await RawPeer.connect(stack.tunnelPort);
  t.after(() => bad.destroy());
  await bad.authenticate('wrong-key-0123456789abcdefghij');

  await waitFor(() => stack.server.sessions[0]?.stats.busy === 0, 2000, 'visitors to finish');
  const text = await metrics.text();
  assert.equal(value(text, 'muon_clients_online'), 1);
  assert.equal(value(text, 'muon_public_ports_open'), 1);
  assert.equal(value(text, 'muon_visitor_connections_active'), 0);
  assert.equal(value(text, `muon_visitor_connections_total{port="${port}"}`), 3);
  assert.equal(value(text, `muon_bytes_in_total{port="${port}"}`), 3000);
  assert.equal(value(text, `muon_bytes_out_total{port="${port}"}`), 9000);
  assert.equal(value(text, 'muon_handshake_failures_total{code="MUON_ERR_AUTH_FAILED"}'), 1);
  assert.equal(value(text, 'muon_visitor_setup_seconds_count'), 3);
  assert.match(metrics.contentType, /text\/plain/);
});
