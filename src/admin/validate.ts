// Request validation: JSON bodies checked with zod; problems become MUON_ERR_INVALID_INPUT
// naming the first offending field.

import type { Context } from 'hono';
import type { z } from 'zod';
import { MuonError } from '../errors.ts';

export async function parseJson<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  let body: unknown;
  try {
    body = await c.req.json();
  } catch {
    throw new MuonError('MUON_ERR_INVALID_INPUT', 'the body must be JSON');
  }
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue?.path.join('.') || undefined;
  throw new MuonError('MUON_ERR_INVALID_INPUT', `${field ?? 'body'}: ${issue?.message ?? 'invalid'}`, {
    ...(field !== undefined && { field }),
  });
}
