// A hand-driven protocol peer for tests that need to misbehave: it speaks raw frames over a
// plain socket and records every message it receives.

import type { Socket } from 'node:net';
import { FrameDecoder } from '../../src/protocol/frame-decoder.ts';
import { PREAMBLE } from '../../src/protocol/frame-types.ts';
import { clientProof, keyIdOf, newNonce } from '../../src/protocol/handshake.ts';
import { decodeMessage, encodeMessage, type Message } from '../../src/protocol/messages.ts';
import { dial, waitFor } from './net.ts';

export class RawPeer {
  readonly socket: Socket;
  readonly received: Message[] = [];
  error: Error | undefined;
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    const decoder = new FrameDecoder(
      { onFrame: (type, payload) => this.received.push(decodeMessage(type, payload)), onData: () => {} },
      { expectPreamble: true },
    );
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch (error) {
        this.error = error as Error;
      }
    });
    socket.on('error', () => {});
    // The server ending its side counts as closing: it will send nothing more.
    const onClosed = () => {
      this.closed = true;
    };
    socket.on('end', onClosed);
    socket.on('close', onClosed);
  }

  static async connect(port: number): Promise<RawPeer> {
    return new RawPeer(await dial(port));
  }

  async next<T extends Message['type']>(type: T, ms = 3000): Promise<Extract<Message, { type: T }>> {
    await waitFor(() => this.received.some((m) => m.type === type), ms, `${type} frame`);
    return this.received.find((m) => m.type === type) as Extract<Message, { type: T }>;
  }

  send(msg: Message, withPreamble = false): void {
    const frame = encodeMessage(msg);
    this.socket.write(withPreamble ? Buffer.concat([PREAMBLE, frame]) : frame);
  }

  /** Completes a command-channel handshake with `key`; resolves with the server's reply. */
  async authenticate(key: string, minIdleChannels = 0): Promise<Message> {
    return (await this.handshake(key, minIdleChannels)).reply;
  }

  /** Like authenticate(), also returning the nonces (to derive the session key). */
  async handshake(
    key: string,
    minIdleChannels = 0,
  ): Promise<{ reply: Message; serverNonce: Buffer; clientNonce: Buffer }> {
    const { serverNonce } = await this.next('CHALLENGE');
    const keyId = keyIdOf(key);
    const clientNonce = newNonce();
    this.send(
      {
        type: 'AUTH',
        keyId,
        clientNonce,
        proof: clientProof(key, serverNonce, clientNonce, keyId),
        clientVersion: 'raw',
        minIdleChannels,
        features: 0,
      },
      true,
    );
    await waitFor(
      () => this.received.some((m) => m.type === 'AUTH_OK' || m.type === 'ERROR'),
      3000,
      'auth reply',
    );
    const reply = this.received.find((m) => m.type === 'AUTH_OK' || m.type === 'ERROR') as Message;
    return { reply, serverNonce, clientNonce };
  }

  async waitClosed(ms = 3000): Promise<void> {
    this.socket.resume();
    await waitFor(() => this.closed, ms, 'close');
  }

  destroy(): void {
    this.socket.destroy();
  }
}
