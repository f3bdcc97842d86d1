// Dead-peer detection for a command channel: call heard() on every frame and tick() once per
// heartbeat interval; tick() says the peer is dead after `timeout` of silence, give or take
// one interval (the bound the tests check).

export class Liveness {
  readonly #limit: number;
  #missed = 0;
  #heard = true;

  constructor(intervalMs: number, timeoutMs: number) {
    this.#limit = Math.max(1, Math.ceil(timeoutMs / intervalMs));
  }

  heard(): void {
    this.#heard = true;
  }

  /** One interval has passed; true when the peer has been silent for the whole timeout. */
  tick(): boolean {
    this.#missed = this.#heard ? 0 : this.#missed + 1;
    this.#heard = false;
    return this.#missed >= this.#limit;
  }
}
