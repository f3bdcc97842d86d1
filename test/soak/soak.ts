// The soak runner: a real `muon server` and hundreds of clients on loopback, bursts of thousands
// of visitors for minutes, then a report (errors, memory over time, fairness, CPU).
//
//   node test/soak/soak.ts --minutes=5 --clients=300 --visitors=5000
//
// The first bursts ramp up (--ramp): at full size at once, the clients' pools must grow by
// thousands of channels in one go, which loses visitors (docs/security.md, "Under load"); try
// --ramp=1 to see it. Exits 1 if anything went wrong under load (the report's "errors"). Not
// part of `npm test` (test/soak/soak-short.test.ts is its short form there).

import { parseArgs } from 'node:util';
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
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  process.stdout.write(
    [
      'usage: node test/soak/soak.ts [--minutes=5] [--clients=300] [--visitors=5000] [--ramp=5] [--fleets=N]',
      '                              [--hold=ms] [--pause=ms] [--max-pending-handshakes=N]',
      '  --minutes   how long bursts keep starting',
      '  --clients   licenses on the server, one client each (run in --fleets processes; default 1 per 150)',
      '  --visitors  visitors open at once in each burst, spread evenly over the clients',
      '  --ramp      bursts to reach --visitors: burst n has n/ramp of them (default 5; 1: all at once)',
      '  --hold      how long the open visitors exchange messages in each burst (ms)',
      '  --pause     quiet time between bursts (ms)',
      "  --max-pending-handshakes  the server's limits.maxPendingHandshakes (default: the server's default)",
      '',
    ].join('\n'),
  );
  process.exit(0);
}

function positive(name: string, text: string | undefined): number {
  const n = Number(text);
  if (!(Number.isFinite(n) && n > 0)) {
    process.stderr.write(`--${name} must be a positive number, got ${text}\n`);
    process.exit(2);
  }
  return n;
}

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
  ...(values['max-pending-handshakes'] !== undefined && {
    serverYaml: [
      `limits: { maxPendingHandshakes: ${Math.round(positive('max-pending-handshakes', values['max-pending-handshakes']))} }`,
    ],
  }),
  progress: (line) => process.stderr.write(`${line}\n`),
};

const result = await runSoak(options);
process.stdout.write(`${formatReport(result)}\n`);
process.exitCode = Object.keys(result.errors).length === 0 ? 0 : 1;
