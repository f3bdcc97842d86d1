// Request validation: JSON bodies (declared as such) checked with zod, and query strings; problems
// become MUON_ERR_INVALID_INPUT naming the first offending field. Text anywhere in a request must
// be well-formed and free of NUL: the stores cannot keep either exactly (SQLite writes UTF-8,
// PostgreSQL text has no NUL, SQLite's LIKE stops at one).

import type { Context, MiddlewareHandler } from 'hono';
import type { z } from 'zod';
import { MuonError } from '../errors.ts';

export async function parseJson<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  if (!/^application\/json\s*(;|$)/i.test(c.req.header('content-type') ?? '')) {
    throw new MuonError('MUON_ERR_INVALID_INPUT', 'content-type: the body must be sent as application/json');
  }
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new MuonError('MUON_ERR_INVALID_INPUT', 'the body must be JSON');
  }
  checkText(body, '');
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.join('.') || undefined;
  throw new MuonError('MUON_ERR_INVALID_INPUT', `${field ?? 'body'}: ${issue?.message ?? 'invalid'}`, {
    ...(field !== undefined && { field }),
  });
}

/** Refuses query parameters whose text the store could not keep or match exactly. */
export const checkQuery: MiddlewareHandler = async (c, next) => {
  for (const [key, values] of Object.entries(c.req.queries())) {
    for (const value of values) checkText(value, key);
  }
  await next();
};

/** No API body nests anywhere near this deep. */
const MAX_DEPTH = 32;

/** Walks `root` (iteratively, with a depth bound: a body may nest deeper than any stack). */
function checkText(root: unknown, rootPath: string): void {
  const pending: Array<[unknown, string, number]> = [[root, rootPath, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [value, path, depth] = next;
    if (typeof value === 'string') {
      if (value.includes('\0') || !value.isWellFormed()) {
        const field = path || 'body';
        throw new MuonError(
          'MUON_ERR_INVALID_INPUT',
          `${field}: must be text without NUL characters or unpaired surrogates`,
          { field },
        );
      }
    } else if (value !== null && typeof value === 'object') {
      if (depth === MAX_DEPTH) throw new MuonError('MUON_ERR_INVALID_INPUT', `${path}: nested too deeply`);
      // Arrays too: their entries are keyed by index.
      for (const [key, item] of Object.entries(value)) {
        pending.push([key, path, depth], [item, path ? `${path}.${key}` : key, depth + 1]);
      }
    }
  }
}
