// Keeps docs/errors.md and src/errors.ts in step (every code documented, every documented code
// real, the retry column true to isPermanent), and specifies the small helpers of the module.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { codeOf, type ErrorCode, ErrorCodes, isErrorCode, isPermanent, MuonError } from '../src/errors.ts';

const DOC = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
const CODES = Object.keys(ErrorCodes) as ErrorCode[];

interface Row {
  code: string;
  meaning: string;
  action: string;
  retries: string;
}

/** Table rows whose first cell is a code: | `MUON_ERR_X` | meaning | what to do | Yes/No | */
function documentedRows(): Row[] {
  const rows: Row[] = [];
  for (const line of DOC.split('\n')) {
    const match = /^\|\s*`(MUON_ERR_[A-Z0-9_]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (!match) continue;
    const cells = (match[2] ?? '').split('|').map((cell) => cell.trim());
    assert.equal(cells.length, 3, `row for ${match[1]} should have 4 columns`);
    const [meaning = '', action = '', retries = ''] = cells;
    rows.push({ code: match[1] ?? '', meaning, action, retries });
  }
  return rows;
}

describe('docs/errors.md', () => {
  const rows = documentedRows();

  test('documents every code in ErrorCodes', () => {
    const documented = new Set(rows.map((r) => r.code));
    const missing = CODES.filter((code) => !documented.has(code));
    assert.deepEqual(missing, [], `undocumented codes: ${missing.join(', ')}`);
  });

  test('mentions no MUON_ERR_ code that does not exist', () => {
    const mentioned = new Set(DOC.match(/MUON_ERR_[A-Z0-9_]+/g) ?? []);
    const unknown = [...mentioned].filter((code) => !isErrorCode(code));
    assert.deepEqual(unknown, [], `documented but not in src/errors.ts: ${unknown.join(', ')}`);
  });

  test('documents each code exactly once', () => {
    const seen = rows.map((r) => r.code);
    assert.equal(new Set(seen).size, seen.length);
  });

  test('gives every code a meaning and an action', () => {
    for (const row of rows) {
      assert.ok(row.meaning.length > 10, `${row.code} has no meaning`);
      assert.ok(row.action.length > 3, `${row.code} has no action`);
    }
  });

  test('says a client retries exactly the codes that are not permanent', () => {
    for (const row of rows) {
      assert.ok(row.retries === 'Yes' || row.retries === 'No', `${row.code}: retries must be Yes or No`);
      if (!isErrorCode(row.code)) continue;
      assert.equal(
        row.retries === 'No',
        isPermanent(row.code),
        `${row.code}: retry column disagrees with isPermanent`,
      );
    }
  });
});

describe('ErrorCodes', () => {
  test('every code is MUON_ERR_ in upper snake case with a one-sentence description', () => {
    for (const code of CODES) {
      assert.match(code, /^MUON_ERR_[A-Z0-9_]+$/);
      assert.match(ErrorCodes[code], /^[A-Z].*\.$/);
    }
  });

  test('every code fits in a wire string', () => {
    for (const code of CODES) assert.ok(Buffer.byteLength(code) <= 0xffff);
  });
});

describe('isErrorCode', () => {
  test('accepts every code', () => {
    for (const code of CODES) assert.ok(isErrorCode(code));
  });

  test('rejects unknown strings, including names inherited by every object', () => {
    for (const value of [
      '',
      'MUON_ERR_',
      'MUON_ERR_NOPE',
      'muon_err_config',
      'constructor',
      '__proto__',
      'toString',
    ]) {
      assert.ok(!isErrorCode(value), value);
    }
  });
});

describe('isPermanent', () => {
  test('is true for the codes an operator must fix before a retry can succeed', () => {
    for (const code of [
      'MUON_ERR_AUTH_FAILED',
      'MUON_ERR_LICENSE_DISABLED',
      'MUON_ERR_SERVER_AUTH_FAILED',
      'MUON_ERR_FINGERPRINT_MISMATCH',
      'MUON_ERR_UNSUPPORTED_VERSION',
      'MUON_ERR_BAD_MAGIC',
      'MUON_ERR_CONFIG',
    ] as const) {
      assert.ok(isPermanent(code), code);
    }
  });

  test('is false for network trouble, timeouts and shutdowns, which a retry can outlast', () => {
    for (const code of [
      'MUON_ERR_HEARTBEAT_TIMEOUT',
      'MUON_ERR_HANDSHAKE_TIMEOUT',
      'MUON_ERR_TLS',
      'MUON_ERR_SHUTDOWN',
      'MUON_ERR_SESSION_REPLACED',
      'MUON_ERR_RATE_LIMITED',
      'MUON_ERR_PEER_ERROR',
      'MUON_ERR_INTERNAL',
      'MUON_ERR_TARGET_UNREACHABLE',
    ] as const) {
      assert.ok(!isPermanent(code), code);
    }
  });
});

describe('MuonError', () => {
  test('carries its code, and the code description as default message', () => {
    const error = new MuonError('MUON_ERR_NO_CLIENT');
    assert.ok(error instanceof Error);
    assert.equal(error.name, 'MuonError');
    assert.equal(error.code, 'MUON_ERR_NO_CLIENT');
    assert.equal(error.message, ErrorCodes.MUON_ERR_NO_CLIENT);
  });

  test('keeps a specific message and a cause', () => {
    const cause = new Error('ECONNREFUSED');
    const error = new MuonError('MUON_ERR_TARGET_UNREACHABLE', 'cannot reach 10.0.0.5:80', { cause });
    assert.equal(error.message, 'cannot reach 10.0.0.5:80');
    assert.equal(error.cause, cause);
  });
});

describe('codeOf', () => {
  test('is the code of a MuonError', () => {
    assert.equal(codeOf(new MuonError('MUON_ERR_PORT_IN_USE')), 'MUON_ERR_PORT_IN_USE');
  });

  test('is MUON_ERR_INTERNAL for anything else thrown', () => {
    const lookalike = Object.assign(new Error('x'), { code: 'MUON_ERR_AUTH_FAILED' });
    for (const value of [new Error('boom'), new TypeError('x'), lookalike, 'a string', undefined, null, 42]) {
      assert.equal(codeOf(value), 'MUON_ERR_INTERNAL');
    }
  });
});
