// A hostile peer on the tunnel port: raw bytes over plain TCP, from a loopback source address of
// its own (127.16.0.1, 127.16.0.2, …), so the server's per-address limits see many attackers,
// never the honest client on 127.0.0.1. It decodes what the server answers (when asked to) and
// records when the server closed the connection.

import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { FrameDecoder } from '../../src/protocol/frame-decoder.ts';
import { PREAMBLE } from '../../src/protocol/frame-types.ts';
import { clientProof, keyIdOf, newNonce } from '../../src/protocol/handshake.ts';
import { decodeMessage, encodeMessage, type Message } from '../../src/protocol/messages.ts';
import { listenLocal, waitFor } from '../support/net.ts';
import { closedAt } from './traffic.ts';

let counter = 0;

/** A loopback source address no other attacker in this process has used. */
export function freshAddress(): string {
  const n = counter++;
  return `127.${16 + Math.floor(n / (254 * 256))}.${Math.floor(n / 254) % 256}.${(n % 254) + 1}`;
}

export class Attacker {
  readonly socket: Socket;
  readonly address: string;
  /** performance.now() at connect. */
  readonly openedAt: number;
  /** performance.now() when the server ended or reset the connection. */
  readonly closed: Promise<number>;
  readonly messages: Message[] = [];
  decodeError: Error | undefined;

  private constructor(socket: Socket, address: string, decode: boolean) {
    this.socket = socket;
    this.address = address;
    this.openedAt = performance.now();
    this.closed = closedAt(socket);
    if (decode) {
      const decoder = new FrameDecoder(
        { onFrame: (type, payload) => this.messages.push(decodeMessage(type, payload)), onData: () => {} },
        { expectPreamble: true },
      );
      socket.on('data', (chunk: Buffer) => {
        try {
          decoder.push(chunk);
        } catch (error) {
          this.decodeError = error as Error;
        }
      });
    } else {
      socket.resume();
    }
  }

  /** Connects from a fresh address (or `address`); `decode: false` for the TLS port. */
  static connect(port: number, options: { address?: string; decode?: boolean } = {}): Promise<Attacker> {
    const address = options.address ?? freshAddress();
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', localAddress: address });
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.on('error', () => {});
        resolve(new Attacker(socket, address, options.decode ?? true));
      });
      socket.once('error', reject);
    });
  }

  /** The code of the server's first ERROR frame, if any. */
  get code(): string | undefined {
    const error = this.messages.find((m) => m.type === 'ERROR');
    return error?.type === 'ERROR' ? error.code : undefined;
  }

  async next<T extends Message['type']>(type: T, ms = 3000): Promise<Extract<Message, { type: T }>> {
    await waitFor(() => this.messages.some((m) => m.type === type), ms, `${type} frame`);
    return this.messages.find((m) => m.type === type) as Extract<Message, { type: T }>;
  }

  /** The server's first frame (CHALLENGE, or ERROR when it refuses at once). */
  async first(ms = 3000): Promise<Message> {
    await waitFor(() => this.messages.length > 0, ms, 'a first frame');
    return this.messages[0] as Message;
  }

  write(bytes: Buffer): void {
    if (!this.socket.destroyed) this.socket.write(bytes);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Preamble + AUTH for `key`, answering `serverNonce`: what an honest client sends. */
export function authBytes(key: string, serverNonce: Buffer): { bytes: Buffer; clientNonce: Buffer } {
  const keyId = keyIdOf(key);
  const clientNonce = newNonce();
  // `features` is the optional trailing block of AUTH (no feature asked for); the cast keeps this
  // helper compiling against builds of the message types from before the field.
  const auth = encodeMessage({
    type: 'AUTH',
    keyId,
    clientNonce,
    proof: clientProof(key, serverNonce, clientNonce, keyId),
    clientVersion: 'fault-suite',
    minIdleChannels: 0,
    features: 0,
  } as Message);
  return { bytes: Buffer.concat([PREAMBLE, auth]), clientNonce };
}

/** The first bytes a TLS client sends (its ClientHello), captured from a local listener. */
export async function tlsClientHello(): Promise<Buffer> {
  let resolveHello: (hello: Buffer) => void = () => {};
  const hello = new Promise<Buffer>((resolve) => {
    resolveHello = resolve;
  });
  const capture = await listenLocal((socket) => socket.once('data', (chunk: Buffer) => resolveHello(chunk)));
  const client = tlsConnect({ port: capture.port, host: '127.0.0.1', rejectUnauthorized: false });
  client.on('error', () => {});
  try {
    return Buffer.from(await hello);
  } finally {
    client.destroy();
    await capture.close();
  }
}
