// Configuration sources as layers of plain objects in the YAML file's shape, merged so that a
// later layer wins: defaults (in the schema) < YAML file < environment < flags. Layers from the
// environment and flags remember where each value came from, for error messages.

import { formatPath, type Origins } from './problems.ts';

export type Settings = Record<string, unknown>;

export interface Layer {
  values: Settings;
  origins: Origins;
}

/** One value from the environment or a flag, addressed by its path in the YAML shape. */
export interface SourcedValue {
  path: readonly string[];
  value: unknown;
  /** `MUON_TUNNEL_PORT`, `--tunnel-port`, …: named in error messages about this value. */
  source: string;
}

export function isPlainObject(value: unknown): value is Settings {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function layerOf(values: Iterable<SourcedValue>): Layer {
  const root: Settings = {};
  const origins = new Map<string, string>();
  for (const { path, value, source } of values) {
    if (value === undefined) continue;
    let node = root;
    for (const key of path.slice(0, -1)) {
      let child = node[key];
      if (!isPlainObject(child)) {
        child = {};
        node[key] = child;
      }
      node = child as Settings;
    }
    const last = path.at(-1);
    if (last === undefined) continue;
    node[last] = value;
    origins.set(formatPath(path), source);
  }
  return { values: root, origins };
}

export function mergeLayers(layers: readonly Layer[]): Layer {
  let values: Settings = {};
  const origins = new Map<string, string>();
  for (const layer of layers) {
    values = mergeValues(values, layer.values) as Settings;
    for (const [path, source] of layer.origins) origins.set(path, source);
  }
  return { values, origins };
}

function mergeValues(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (isPlainObject(base) && isPlainObject(over)) {
    const merged: Settings = { ...base };
    for (const [key, value] of Object.entries(over)) merged[key] = mergeValues(base[key], value);
    return merged;
  }
  // A malformed group in the file (`tunnel: 5`) stays, so it is reported rather than hidden by
  // an environment variable that sets one of its keys.
  if (base !== undefined && isPlainObject(over)) return base;
  return over;
}
