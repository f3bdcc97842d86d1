// The one timer a visitor connection runs at a time, named by what it waits for: the next request
// (idle), the rest of a started request head, or the visitor reading our last answer (linger).
// Asking again for the kind already running keeps it: a trickling head gets no more time per byte.

export type TimerKind = 'idle' | 'head' | 'linger';

export class ConnectionTimer {
  readonly #onFire: (kind: TimerKind) => void;
  #timer: NodeJS.Timeout | undefined;
  #kind: TimerKind | undefined;

  constructor(onFire: (kind: TimerKind) => void) {
    this.#onFire = onFire;
  }

  get kind(): TimerKind | undefined {
    return this.#kind;
  }

  /** Runs a timer of `kind` for `ms`, unless one of that kind already runs. */
  set(kind: TimerKind, ms: number): void {
    if (kind === this.#kind) return;
    this.clear();
    this.#kind = kind;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#kind = undefined;
      this.#onFire(kind);
    }, ms);
    this.#timer.unref();
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#kind = undefined;
  }
}
