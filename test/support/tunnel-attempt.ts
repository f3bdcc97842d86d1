// One tunnel handshake from a chosen local address: what the server answers a client that
// connects from `localAddress` and authenticates with `key`. For tests of per-address limits,
// where the source address is the point (the usual test peers let the kernel pick it).

import { connect } from 'node:net';
import { FrameDecoder } from '../../src/protocol/frame-decoder.ts';
import { PREAMBLE } from '../../src/protocol/frame-types.ts';
import { clientProof, keyIdOf, newNonce } from '../../src/protocol/handshake.ts';
import { decodeMessage, encodeMessage, type Message } from '../../src/protocol/messages.ts';

export interface Attempt {
  /** The server's answer: an ERROR's code, AUTH_OK, or CLOSED when it sent neither. */
  outcome: string;
  /** Whether the server offered a handshake (CHALLENGE) before answering. */
  challenged: boolean;
}

export function attemptAuth(
  target: { host: string; port: number },
  localAddress: string,
  key: string,
  ms = 3000,
): Promise<Attempt> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: target.host, port: target.port, localAddress });
    let challenged = false;
    const done = (outcome: string) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ outcome, challenged });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from the server within ${ms} ms (from ${localAddress})`));
    }, ms);
    const onMessage = (message: Message) => {
      if (message.type === 'CHALLENGE') {
        challenged = true;
        const clientNonce = newNonce();
        const keyId = keyIdOf(key);
        const auth = encodeMessage({
          type: 'AUTH',
          keyId,
          clientNonce,
          proof: clientProof(key, message.serverNonce, clientNonce, keyId),
          clientVersion: 'attempt',
          minIdleChannels: 0,
          features: 0,
        });
        socket.write(Buffer.concat([PREAMBLE, auth]));
      } else if (message.type === 'ERROR') {
        done(message.code);
      } else if (message.type === 'AUTH_OK') {
        done('AUTH_OK');
      }
    };
    const decoder = new FrameDecoder(
      { onFrame: (type, payload) => onMessage(decodeMessage(type, payload)), onData: () => {} },
      { expectPreamble: true },
    );
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('close', () => done('CLOSED'));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}
