// The soak runner: a real `muon server` and hundreds of clients on loopback, bursts of thousands
// of visitors for minutes, then a report (errors, memory over time, fairness, CPU).
//
//   node test/soak/soak.ts --minutes=5 --clients=300 --visitors=5000
//
// The first bursts ramp up (--ramp): at full size at once, the clients' pools must grow by
// thousands of channels in one go, which loses visitors (docs/security.md, "Under load"); try
// --ramp=1 to see it. Exits 1 if anything went wrong under load (the report's "errors"). Not
// part of `npm test` (test/soak/soak-short.test.ts is its short form there).
//
// For memory questions: the server reports its own heap, external memory and sockets every
// --mem-sample seconds (test/soak/mem-sampler.ts); --server-env runs it with, say,
// MALLOC_ARENA_MAX=2; --plain compares the plain tunnel with TLS; --limits sets server limits
// (idleChannelTimeout: how soon idle channels are reaped); --tail keeps watching after the last
// burst; --malloc-stats asks glibc, through gdb, for its statistics at the end, then trims.

import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { parseArgs, promisify } from 'node:util';
import { rssMiB } from './proc-stats.ts';
import { formatReport } from './report.ts';
import { runSoak, type SoakOptions } from './run-soak.ts';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '5' },
    clients: { type: 'string', default: '300' },
    visitors: { type: 'string', default: '5000' },
    fleets: { type: 'string' },
    hold: { type: 'string', default: '2000' },
    pause: { type: 'string', default: '500' },
    ramp: { type: 'string', default: '5' },
    'max-pending-handshakes': { type: 'string' },
    limits: { type: 'string' },
    plain: { type: 'boolean', default: false },
    'server-env': { type: 'string', multiple: true, default: [] },
    'mem-sample': { type: 'string', default: '10' },
    tail: { type: 'string', default: '0' },
    'malloc-stats': { type: 'boolean', default: false },
    'malloc-every': { type: 'string', default: '0' },
    json: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  process.stdout.write(
    [
      'usage: node test/soak/soak.ts [--minutes=5] [--clients=300] [--visitors=5000] [--ramp=5] [--fleets=N]',
      '                              [--hold=ms] [--pause=ms] [--max-pending-handshakes=N] [--limits=YAML]',
      '                              [--plain] [--server-env=K=V ...] [--mem-sample=s] [--tail=s]',
      '                              [--malloc-stats] [--json=file]',
      '  --minutes   how long bursts keep starting',
      '  --clients   licenses on the server, one client each (run in --fleets processes; default 1 per 150)',
      '  --visitors  visitors open at once in each burst, spread evenly over the clients',
      '  --ramp      bursts to reach --visitors: burst n has n/ramp of them (default 5; 1: all at once)',
      '  --hold      how long the open visitors exchange messages in each burst (ms)',
      '  --pause     quiet time between bursts (ms)',
      "  --max-pending-handshakes  the server's limits.maxPendingHandshakes (default: the server's default)",
      "  --limits    more of the server's limits, as YAML flow entries: 'idleChannelTimeout: 15s'",
      '  --plain     clients use the plain tunnel port (no TLS)',
      "  --server-env  K=V for the server's environment only (repeatable): MALLOC_ARENA_MAX=2",
      "  --mem-sample  seconds between the server's own memory samples (default 10; 0: off)",
      '  --tail      seconds to keep sampling after the last burst, without visitors',
      '  --malloc-stats  at the end, glibc malloc_stats(), malloc_trim(0), malloc_stats() through gdb',
      '  --malloc-every  seconds between malloc_stats() through gdb, after a burst (pauses the server ~1 s)',
      '  --json      also write the whole result (samples included) to this file',
      '',
    ].join('\n'),
  );
  process.exit(0);
}

function nonNegative(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!(Number.isFinite(n) && n >= 0)) {
    process.stderr.write(`--${name} must be a number ≥ 0, got ${text}\n`);
    process.exit(2);
  }
  return n;
}

function positive(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!(Number.isFinite(n) && n > 0)) {
    process.stderr.write(`--${name} must be a positive number, got ${text}\n`);
    process.exit(2);
  }
  return n;
}

/** Calls functions of glibc in the server through gdb (which stops it for about a second). */
async function gdbCall(pid: number, ...calls: string[]): Promise<void> {
  await promisify(execFile)('gdb', [
    '-p',
    String(pid),
    '-batch',
    ...calls.flatMap((c) => ['-ex', `call ${c}`]),
  ]);
}

/** malloc_stats() totals, in the order they were printed on the server's stderr. */
function mallocTotals(stderr: string): { system: number; inUse: number }[] {
  const totals = [];
  const re = /Total \(incl\. mmap\):\nsystem bytes\s+=\s+(\d+)\nin use bytes\s+=\s+(\d+)/g;
  for (const m of stderr.matchAll(re)) totals.push({ system: Number(m[1]), inUse: Number(m[2]) });
  return totals;
}

/** When each malloc_stats() was asked for, with the server's RSS then. */
const mallocCalls: { what: string; at: number; rss: number }[] = [];
let lastMallocAt = Number.NEGATIVE_INFINITY;

/** glibc's view of the server's heap (printed on its stderr), then a trim, then its view again. */
async function mallocStats(pid: number): Promise<void> {
  const rss = await rssMiB(pid);
  mallocCalls.push({ what: 'end', at: Number.NaN, rss });
  await gdbCall(pid, '(void) malloc_stats()', '(int) malloc_trim(0)');
  mallocCalls.push({ what: 'after malloc_trim(0)', at: Number.NaN, rss: await rssMiB(pid) });
  await gdbCall(pid, '(void) malloc_stats()');
}

/** Once every client (and so every channel) has gone: what the server still holds. */
async function mallocAfterClose(pid: number): Promise<void> {
  // The sockets close and their memory is freed once the server has seen them go.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  mallocCalls.push({ what: 'clients closed', at: Number.NaN, rss: await rssMiB(pid) });
  await gdbCall(pid, '(void) malloc_stats()', '(int) malloc_trim(0)');
  mallocCalls.push({ what: 'then malloc_trim(0)', at: Number.NaN, rss: await rssMiB(pid) });
  await gdbCall(pid, '(void) malloc_stats()');
}

async function mallocEvery(pid: number, burst: number, at: number): Promise<void> {
  const every = nonNegative('malloc-every', values['malloc-every']);
  if (every === 0 || at - lastMallocAt < every) return;
  lastMallocAt = at;
  mallocCalls.push({
    what: burst === 0 ? 'before burst 1' : `after burst ${burst}`,
    at,
    rss: await rssMiB(pid),
  });
  await gdbCall(pid, '(void) malloc_stats()');
}

const limits = [
  ...(values['max-pending-handshakes'] !== undefined
    ? [
        `maxPendingHandshakes: ${Math.round(positive('max-pending-handshakes', values['max-pending-handshakes']))}`,
      ]
    : []),
  ...(values.limits ? [values.limits] : []),
];
const clients = Math.round(positive('clients', values.clients));
const options: SoakOptions = {
  durationMs: positive('minutes', values.minutes) * 60_000,
  clients,
  visitors: Math.round(positive('visitors', values.visitors)),
  rampBursts: Math.round(positive('ramp', values.ramp)),
  fleets: Math.round(positive('fleets', values.fleets ?? String(Math.ceil(clients / 150)))),
  holdMs: positive('hold', values.hold),
  pauseMs: positive('pause', values.pause),
  messageBytes: 1024,
  minIdle: 8,
  burstTimeoutMs: 60_000,
  sampleMs: 1000,
  // A third of the run, at most 2 minutes (V8 settled on its heap size within a minute here).
  warmupMs: Math.min(120_000, (positive('minutes', values.minutes) * 60_000) / 3),
  ...(limits.length > 0 && { serverYaml: [`limits: { ${limits.join(', ')} }`] }),
  serverEnv: Object.fromEntries(
    values['server-env'].map((kv) => {
      const at = kv.indexOf('=');
      if (at <= 0) {
        process.stderr.write(`--server-env must be KEY=VALUE, got ${kv}\n`);
        process.exit(2);
      }
      return [kv.slice(0, at), kv.slice(at + 1)];
    }),
  ),
  plain: values.plain,
  memSampleMs: nonNegative('mem-sample', values['mem-sample']) * 1000,
  tailMs: nonNegative('tail', values.tail) * 1000,
  ...(values['malloc-stats'] && { atEnd: mallocStats, afterClose: mallocAfterClose }),
  afterBurst: mallocEvery,
  progress: (line) => process.stderr.write(`${line}\n`),
};

const result = await runSoak(options);
process.stdout.write(`${formatReport(result)}\n`);
const totals = mallocTotals(result.serverStderr);
if (mallocCalls.length > 0) {
  const MiB = 1024 * 1024;
  process.stdout.write(
    '\nglibc malloc_stats() in the server (MiB; system = held from the OS, in use = allocated):\n',
  );
  mallocCalls.forEach((c, i) => {
    const t = totals[i];
    process.stdout.write(
      `  ${c.what.padEnd(22)} ${Number.isNaN(c.at) ? '' : `${c.at.toFixed(0)} s`.padStart(6)}  RSS ${c.rss.toFixed(1)}` +
        (t
          ? `  system ${(t.system / MiB).toFixed(1)}  in use ${(t.inUse / MiB).toFixed(1)}  free in it ${((t.system - t.inUse) / MiB).toFixed(1)}\n`
          : '  (no totals)\n'),
    );
  });
}
if (values.json) {
  const { tallies: _, ...rest } = result;
  await writeFile(values.json, JSON.stringify(rest));
}
process.exitCode = Object.keys(result.errors).length === 0 ? 0 : 1;
