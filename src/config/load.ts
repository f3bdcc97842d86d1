// The loading pipeline shared by server and client: YAML file, environment and flags merged as
// layers, validated by a schema, and any problems reported together with their sources.

import { resolve } from 'node:path';
import type * as z from 'zod';
import { type Env, type EnvTable, envLayer } from './env.ts';
import { type Layer, layerOf, mergeLayers } from './layers.ts';
import { configError, problemsFromIssues } from './problems.ts';
import { readYamlLayer } from './yaml-file.ts';

export interface ConfigSources<Flags> {
  /** YAML file; without one, only defaults, environment and flags apply. */
  file?: string | undefined;
  /** Environment variables (default: process.env). */
  env?: Env;
  /** Values from the command line; undefined entries are ignored. */
  flags?: Flags;
  /** Base for relative paths given by the environment, flags and defaults (default: process.cwd()). */
  cwd?: string;
}

/** Flag name → setting path and how the flag is spelt on the command line. */
export type FlagTable<Flags> = { readonly [K in keyof Flags]-?: { path: readonly string[]; flag: string } };

export interface ConfigLayout<Flags> {
  env: EnvTable;
  flags: FlagTable<Flags>;
  /** Settings that hold file paths, resolved relative to the YAML file. */
  paths: readonly (readonly string[])[];
}

export async function mergeSources<Flags extends object>(
  sources: ConfigSources<Flags>,
  layout: ConfigLayout<Flags>,
): Promise<Layer> {
  const cwd = sources.cwd ?? process.cwd();
  const layers: Layer[] = [];
  if (sources.file !== undefined) layers.push(await readYamlLayer(resolve(cwd, sources.file), layout.paths));
  layers.push(envLayer(sources.env ?? process.env, layout.env));
  layers.push(flagLayer(sources.flags, layout.flags));
  return mergeLayers(layers);
}

function flagLayer<Flags extends object>(flags: Flags | undefined, table: FlagTable<Flags>): Layer {
  if (flags === undefined) return layerOf([]);
  return layerOf(
    (Object.keys(table) as (keyof Flags)[]).map((name) => ({
      path: table[name].path,
      value: flags[name],
      source: table[name].flag,
    })),
  );
}

/** The schema's output, or a MuonError listing every problem found. */
export function validate<Schema extends z.ZodType>(schema: Schema, merged: Layer): z.output<Schema> {
  const result = schema.safeParse(merged.values);
  if (!result.success) throw configError(problemsFromIssues(result.error.issues), merged.origins);
  return result.data;
}
