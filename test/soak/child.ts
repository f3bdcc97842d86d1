// A Node child script of the soak suite (the echo target, a client fleet) talking over IPC: the
// runner sends commands and waits for typed replies. Children are killed if the runner exits.

import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** Messages are objects with a `type`. */
export interface Message {
  type: string;
}

export class NodeChild<In extends Message, Out extends Message> {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  #stderr = '';
  readonly #inbox: Out[] = [];
  readonly #waiters = new Set<() => void>();

  constructor(name: string, script: string) {
    this.name = name;
    // No execArgv: the test runner's own flags must not reach the child.
    this.child = spawn(process.execPath, [script], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    live.add(this.child);
    this.child.stderr?.on('data', (chunk: Buffer) => {
      // The start of a failure is what explains it.
      if (this.#stderr.length < 64 * 1024) this.#stderr += chunk;
    });
    this.child.on('message', (message: Out) => {
      this.#inbox.push(message);
      for (const wake of this.#waiters) wake();
    });
    this.exited = once(this.child, 'exit').then(([code]) => {
      live.delete(this.child);
      for (const wake of this.#waiters) wake();
      return code as number | null;
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get stderr(): string {
    return this.#stderr;
  }

  send(message: In): void {
    this.child.send(message);
  }

  /** The next message of `type` (taken from the inbox); rejects after `ms` or if the child exits. */
  async next<T extends Out['type']>(type: T, ms: number): Promise<Extract<Out, { type: T }>> {
    const deadline = performance.now() + ms;
    for (;;) {
      const at = this.#inbox.findIndex((m) => m.type === type);
      if (at >= 0) return this.#inbox.splice(at, 1)[0] as Extract<Out, { type: T }>;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`${this.name} exited before sending "${type}":\n${this.#stderr}`);
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`${this.name}: no "${type}" within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(wake, left);
        const waiters = this.#waiters;
        function wake() {
          clearTimeout(timer);
          waiters.delete(wake);
          resolve();
        }
        waiters.add(wake);
      });
    }
  }

  /** SIGKILL, and waits for the exit. Idempotent. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited;
  }
}
