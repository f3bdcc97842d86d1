// Reads a YAML configuration file into a layer. Relative paths inside it are resolved against
// the file's own directory, so a service manager may start Muon from any working directory.
// Parse errors give the position but never the text: the line may hold a license key.

import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { parse, YAMLError } from 'yaml';
import { MuonError } from '../errors.ts';
import { isPlainObject, type Layer, type Settings } from './layers.ts';

/**
 * @param pathSettings settings holding file paths, e.g. `[['dataDir'], ['tunnel', 'tls', 'cert']]`
 */
export async function readYamlLayer(
  file: string,
  pathSettings: readonly (readonly string[])[],
): Promise<Layer> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new MuonError('MUON_ERR_CONFIG', `cannot read config file ${file}: ${describeIoError(error)}`);
  }
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    if (!(error instanceof YAMLError)) throw error;
    const [start] = error.linePos ?? [];
    const where = start ? `line ${start.line}, column ${start.col}: ` : '';
    const reason = error.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '');
    throw new MuonError('MUON_ERR_CONFIG', `${file}: ${where}${reason}`);
  }
  const values = withoutNulls(document ?? {});
  if (!isPlainObject(values)) {
    throw new MuonError(
      'MUON_ERR_CONFIG',
      `${file}: expected a mapping of settings (key: value) at the top level`,
    );
  }
  const base = dirname(resolve(file));
  for (const path of pathSettings) resolvePathSetting(values, path, base);
  return { values, origins: new Map() };
}

export function describeIoError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a parent is not a directory';
    default:
      return code ?? 'unreadable';
  }
}

/** `key:` with nothing after it (often children commented out) means "not set", not null. */
function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (!isPlainObject(value)) return value;
  const result: Settings = {};
  for (const [key, child] of Object.entries(value)) {
    if (child !== null) result[key] = withoutNulls(child);
  }
  return result;
}

function resolvePathSetting(values: Settings, path: readonly string[], base: string): void {
  let node: unknown = values;
  for (const key of path.slice(0, -1)) node = isPlainObject(node) ? node[key] : undefined;
  const last = path.at(-1);
  if (!isPlainObject(node) || last === undefined) return;
  const value = node[last];
  if (typeof value === 'string' && value !== '') node[last] = resolve(base, value);
}
