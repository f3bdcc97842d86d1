// Security groups on the tunnel: a visitor is admitted or refused by its socket address (IPv4
// from 127.0.0.1 or 127.0.0.2, IPv6 from ::1, IPv4-mapped on a dual-stack listener), refused
// visitors are closed before the client hears of them, and rule or default changes apply to the
// next visitor at once (from a StaticDirectory, and from the store through its change events).

import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import type { AccessAction, LicenseRecord, SecurityPolicy } from '../../src/server/directory.ts';
import { freePort, listenLocal, type TestServer, waitFor } from '../support/net.ts';
import { startRuntime } from '../support/runtime.ts';
import { KEY, type LogCapture, license, startStack } from '../support/stack.ts';

/** An echo target that counts the connections the client made to it. */
async function countingEcho(): Promise<TestServer & { accepted: () => number }> {
  let accepted = 0;
  const server = await listenLocal((socket) => {
    accepted++;
    socket.pipe(socket);
  });
  return Object.assign(server, { accepted: () => accepted });
}

type Outcome = 'echoed' | 'refused' | 'timeout';

/** Opens a connection (from `from` when given), sends "ping"; echoed back, or closed unanswered. */
function visit(port: number, options: { host?: string; from?: string } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const socket: Socket = connect({
      host: options.host ?? '127.0.0.1',
      port,
      ...(options.from && { localAddress: options.from }),
    });
    let got = '';
    const done = (outcome: Outcome) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done('timeout'), 3000);
    socket.on('error', () => {});
    socket.on('connect', () => socket.write('ping'));
    socket.on('data', (chunk: Buffer) => {
      got += chunk.toString();
      if (got === 'ping') done('echoed');
    });
    socket.on('close', () => done(got === 'ping' ? 'echoed' : 'refused'));
  });
}

/** Writes `text` on an open connection and resolves with what comes back (or "closed"). */
function echo(socket: Socket, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const timer = setTimeout(() => finish('timeout'), 3000);
    const onData = (chunk: Buffer) => {
      got += chunk.toString();
      if (got.length >= text.length) finish(got);
    };
    const onClose = () => finish('closed');
    const finish = (result: string) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(result);
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.write(text);
  });
}

function policy(defaultAction: AccessAction, ...rules: [AccessAction, string][]): SecurityPolicy {
  return { id: 'office', defaultAction, rules: rules.map(([action, cidr]) => ({ action, cidr })) };
}

function logged(log: LogCapture, code: string): Array<Record<string, unknown>> {
  return log.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.code === code);
}

/** Lets a directory change reach the session (StaticDirectory answers at once). */
const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 20));

async function lab(
  t: Parameters<typeof startStack>[0],
  security: SecurityPolicy | null,
  publicHost?: string,
) {
  const echo = await countingEcho();
  t.after(() => echo.close());
  const port = await freePort();
  const record = license('lab', KEY, [{ publicPort: port, targetPort: echo.port, security }]);
  const stack = await startStack(t, [record], publicHost ? { server: { publicHost } } : {});
  await stack.onlineClient(KEY);
  const update = async (next: SecurityPolicy | null) => {
    const changed: LicenseRecord = {
      ...record,
      mappings: record.mappings.map((m) => ({ ...m, security: next })),
    };
    stack.directory.update(changed);
    await settle();
  };
  return { echo, port, stack, update };
}

describe('security groups on the tunnel', () => {
  test('IPv4: allow and deny by source address and block, first match wins; refused before the client hears', async (t) => {
    const { echo, port, stack } = await lab(
      t,
      policy('deny', ['deny', '127.0.0.2/32'], ['allow', '127.0.0.0/8']),
    );
    assert.equal(await visit(port, { from: '127.0.0.1' }), 'echoed');
    assert.equal(echo.accepted(), 1);
    assert.equal(await visit(port, { from: '127.0.0.2' }), 'refused');
    assert.equal(
      await visit(port, { from: '127.0.0.3' }),
      'echoed',
      'the /8 allows what the /32 does not deny',
    );
    assert.equal(echo.accepted(), 2, 'the refused visitor never reached the client or the target');

    const denied = logged(stack.serverLog, 'MUON_ERR_ACCESS_DENIED');
    assert.equal(denied.length, 1);
    assert.equal(denied[0]?.remote, '127.0.0.2');
    assert.equal(denied[0]?.mapping, `lab:${port}`);
    assert.equal(denied[0]?.securityGroup, 'office');
    assert.equal(denied[0]?.refused, 1);
    assert.doesNotMatch(stack.serverLog.text(), new RegExp(KEY), 'no secrets in the log');
  });

  test('a flood of refused visitors costs one info line per interval; the rest go to debug', async (t) => {
    const { port, stack } = await lab(t, policy('deny'));
    for (let i = 0; i < 10; i++) assert.equal(await visit(port), 'refused');
    const lines = logged(stack.serverLog, 'MUON_ERR_ACCESS_DENIED');
    assert.equal(lines.length, 10, 'each refusal is logged once');
    assert.deepEqual(
      lines.map((l) => l.level),
      [30, ...Array<number>(9).fill(20)],
      'info first, then debug',
    );
  });

  test('the default action applies when no rule matches; rule and default changes apply to the next visitor', async (t) => {
    const { port, update } = await lab(t, policy('deny', ['allow', '10.0.0.0/8']));
    assert.equal(await visit(port), 'refused', 'no rule matches 127.0.0.1: the default denies');
    await update(policy('allow', ['allow', '10.0.0.0/8']));
    assert.equal(await visit(port), 'echoed', 'the default now allows');

    // A connection admitted before a change stays open after it.
    const open = connect({ host: '127.0.0.1', port, localAddress: '127.0.0.1' });
    t.after(() => open.destroy());
    open.on('error', () => {});
    assert.equal(await echo(open, 'first'), 'first');

    await update(policy('allow', ['deny', '127.0.0.1']));
    assert.equal(await visit(port, { from: '127.0.0.1' }), 'refused', 'a new deny rule refuses at once');
    assert.equal(await visit(port, { from: '127.0.0.2' }), 'echoed');
    assert.equal(await echo(open, 'still here'), 'still here', 'the open connection is left alone');
    await update(null);
    assert.equal(await visit(port, { from: '127.0.0.1' }), 'echoed', 'without a group everyone gets in');
  });

  test('IPv6: rules on ::1, and IPv4 rules do not match IPv6 visitors', async (t) => {
    const { port, update } = await lab(t, policy('deny', ['allow', '::1/128']), '::1');
    assert.equal(await visit(port, { host: '::1' }), 'echoed');
    await update(policy('allow', ['deny', '::/0']));
    assert.equal(await visit(port, { host: '::1' }), 'refused');
    await update(policy('deny', ['allow', '2001:db8::/32']));
    assert.equal(await visit(port, { host: '::1' }), 'refused', 'outside the allowed block');
    await update(policy('deny', ['allow', '0.0.0.0/0']));
    assert.equal(await visit(port, { host: '::1' }), 'refused', 'an IPv4 rule does not admit IPv6');
    await update(policy('allow', ['deny', '0.0.0.0/0']));
    assert.equal(await visit(port, { host: '::1' }), 'echoed', 'nor does it refuse IPv6');
  });

  test('IPv4 visitors seen as ::ffff:a.b.c.d by an IPv6 listener meet the IPv4 rules', async (t) => {
    const { port, stack, update } = await lab(t, policy('deny', ['allow', '127.0.0.2']), '::ffff:127.0.0.1');
    assert.equal(await visit(port, { from: '127.0.0.2' }), 'echoed');
    assert.equal(await visit(port, { from: '127.0.0.1' }), 'refused');
    assert.equal(
      logged(stack.serverLog, 'MUON_ERR_ACCESS_DENIED')[0]?.remote,
      '::ffff:127.0.0.1',
      'the listener does see a mapped address',
    );
    await update(policy('deny', ['allow', '::/0']));
    assert.equal(
      await visit(port, { from: '127.0.0.2' }),
      'refused',
      'IPv6 rules do not match IPv4 visitors',
    );
  });

  test('through the store: a group given to a mapping, then its rules and default, apply to the next visitor', async (t) => {
    const echo = await countingEcho();
    t.after(() => echo.close());
    const port = await freePort();
    const { runtime, client } = await startRuntime(t, [
      'licenses:',
      '  - name: lab',
      `    key: "${KEY}"`,
      `    mappings: [{ port: ${port}, target: "127.0.0.1:${echo.port}" }]`,
    ]);
    client(KEY);
    await waitFor(() => runtime.tunnel.publicPorts.includes(port), 5000, 'the client to come online');
    const { store } = runtime;
    const mapping = await store.mappings.findByPort('tcp', port);
    assert.ok(mapping);
    const until = async (from: string, outcome: Outcome, what: string) => {
      const deadline = Date.now() + 5000;
      while ((await visit(port, { from })) !== outcome) {
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      }
    };
    await until('127.0.0.2', 'echoed', 'the tunnel to serve');

    const group = await store.securityGroups.create({ name: 'office', defaultAction: 'deny' }, [
      { action: 'allow', cidr: '127.0.0.1', priority: 10 },
    ]);
    await store.mappings.update(mapping.id, { securityGroupId: group.id });
    await until('127.0.0.2', 'refused', 'the group to apply');
    assert.equal(await visit(port, { from: '127.0.0.1' }), 'echoed');

    const rule = await store.securityGroups.addRule(group.id, {
      action: 'allow',
      cidr: '127.0.0.2',
      priority: 5,
    });
    await until('127.0.0.2', 'echoed', 'the new rule to apply');
    await store.securityGroups.updateRule(rule.id, { action: 'deny' });
    await until('127.0.0.2', 'refused', 'the changed rule to apply');
    await store.securityGroups.deleteRule(rule.id);
    await store.securityGroups.update(group.id, { defaultAction: 'allow' });
    await until('127.0.0.2', 'echoed', 'the default action to apply');
    await store.securityGroups.replaceRules(group.id, [{ action: 'deny', cidr: '127.0.0.0/8', priority: 1 }]);
    await until('127.0.0.1', 'refused', 'the replaced rules to apply');
  });
});
