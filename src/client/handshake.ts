// The client's side of the handshake on a fresh tunnel connection: wait for the server's
// preamble + CHALLENGE, then answer with AUTH (command channel) or PROXY_HELLO (proxy channel).

import type { Socket } from 'node:net';
import { MuonError } from '../errors.ts';
import { FramedSocket } from '../net/framed-socket.ts';
import { PREAMBLE } from '../protocol/frame-types.ts';
import { encodeMessage, type Message } from '../protocol/messages.ts';

/**
 * Wraps `socket` in a FramedSocket and resolves with the first message the server sends.
 * An ERROR frame rejects with its code; silence past `timeoutMs` rejects with a timeout.
 */
export function nextMessage(framed: FramedSocket, timeoutMs: number): Promise<Message> {
  const socket = framed.socket;
  return new Promise((resolve, reject) => {
    const done = (error: Error | undefined, msg?: Message) => {
      clearTimeout(timer);
      socket.off('close', onClose);
      framed.hold();
      if (error) reject(error);
      else resolve(msg as Message);
    };
    const onClose = () => done(new MuonError('MUON_ERR_PEER_ERROR', 'the server closed the connection'));
    const timer = setTimeout(
      () =>
        done(new MuonError('MUON_ERR_HANDSHAKE_TIMEOUT', `no answer from the server within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.once('close', onClose);
    framed.setProtocolErrorHandler((error) => done(error));
    framed.setHandler({
      onMessage: (msg) => {
        if (msg.type === 'ERROR') done(new MuonError(msg.code, msg.message));
        else done(undefined, msg);
      },
      onData: () => done(new MuonError('MUON_ERR_UNEXPECTED_FRAME', 'DATA during the handshake')),
    });
  });
}

const idleHandler = {
  onMessage: () => {},
  onData: () => {},
};

/** Reads the server's greeting (preamble + CHALLENGE) and returns its nonce. */
export async function readChallenge(
  socket: Socket,
  options: { maxFrameSize: number; timeoutMs: number },
): Promise<{ framed: FramedSocket; serverNonce: Buffer }> {
  const framed = new FramedSocket(
    socket,
    { maxFrameSize: options.maxFrameSize, expectPreamble: true },
    idleHandler,
    () => {},
  );
  const msg = await nextMessage(framed, options.timeoutMs);
  if (msg.type !== 'CHALLENGE')
    throw new MuonError('MUON_ERR_UNEXPECTED_FRAME', `expected CHALLENGE, got ${msg.type}`);
  return { framed, serverNonce: msg.serverNonce };
}

/** Our first bytes on a connection: the preamble and one message, in one write. */
export function sendFirst(framed: FramedSocket, msg: Message): void {
  framed.socket.write(Buffer.concat([PREAMBLE, encodeMessage(msg)]));
}
