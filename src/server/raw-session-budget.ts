// How many raw sessions (docs/architecture.md, "Raw sessions and the kernel relay") one server
// carries at once. A spliced one holds eight descriptors on each side (two sockets, their
// duplicates in the kernel relay, two pipes), a sealed one four and its buffers, where a carrier
// stream holds one descriptor, so a server with many clients bounds them (`limits.maxRawSessions`);
// beyond it, visitors ride a carrier stream or the JavaScript relay.

export class RawSessionBudget {
  readonly #max: number;
  /** Raw sessions under way (or about to be: CONNECT sent). */
  #open = 0;

  constructor(max: number) {
    this.#max = max;
  }

  get available(): boolean {
    return this.#open < this.#max;
  }

  /** Takes one if one is left. */
  take(): boolean {
    if (!this.available) return false;
    this.#open++;
    return true;
  }

  /** Gives back one that take() gave. */
  release(): void {
    this.#open = Math.max(0, this.#open - 1);
  }
}
