// Temporary directories of a run (Muon's config and data, sshd's keys): created here and
// removed when their owner stops, or all at once synchronously on an abrupt exit.

import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Child } from './child.ts';

const live = new Set<string>();

/** A new directory under the system temporary directory (mode 0700). */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  live.add(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  live.delete(dir);
}

/** Removes every directory not yet removed (for exit and signal handlers). */
export function removeTempDirsSync(): void {
  for (const dir of live) rmSync(dir, { recursive: true, force: true });
  live.clear();
}

/**
 * The processes one tunnel runs and the temporary directory they use. stop() ends them in
 * reverse order of start (a client before its server, so the server does not spend its shutdown
 * on reconnect attempts), then removes the directory. Idempotent.
 */
export class ChildGroup {
  readonly dir: string;
  readonly #children: Child[] = [];
  #stopped: Promise<void> | undefined;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async create(prefix: string): Promise<ChildGroup> {
    return new ChildGroup(await makeTempDir(prefix));
  }

  add<T extends Child>(child: T): T {
    this.#children.push(child);
    return child;
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      for (const child of [...this.#children].reverse()) await child.stop();
      await removeTempDir(this.dir);
    })();
    return this.#stopped;
  }
}
