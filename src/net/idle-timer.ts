// Fires once a session has been quiet for `timeoutMs`. touch() on every datagram only stores the
// time; the single timer re-arms itself for the remainder when it finds recent activity, so a
// busy session costs no timer work per datagram. Date.now() so tests can mock the clock.

export class IdleTimer {
  readonly #timeoutMs: number;
  readonly #onIdle: () => void;
  #last = Date.now();
  #timer: NodeJS.Timeout | undefined;

  /** Starts counting at once; `onIdle` is called at most once, then the timer is stopped. */
  constructor(timeoutMs: number, onIdle: () => void) {
    this.#timeoutMs = timeoutMs;
    this.#onIdle = onIdle;
    this.#arm(timeoutMs);
  }

  /** Activity: the quiet period starts again from now. */
  touch(): void {
    this.#last = Date.now();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(ms: number): void {
    this.#timer = setTimeout(() => this.#check(), ms);
    // Sessions keep the process alive through their sockets, not through this bookkeeping.
    this.#timer.unref();
  }

  #check(): void {
    this.#timer = undefined;
    const quiet = Date.now() - this.#last;
    if (quiet >= this.#timeoutMs) this.#onIdle();
    else this.#arm(this.#timeoutMs - quiet);
  }
}
