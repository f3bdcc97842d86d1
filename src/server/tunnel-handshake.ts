// The first exchange on every tunnel connection: the server speaks first (preamble + CHALLENGE
// with a fresh nonce), then the client says what the connection is: AUTH (a command channel) or
// PROXY_HELLO (a proxy channel). Anything else, or silence past the timeout, closes it.

import type { Socket } from 'node:net';
import { MuonError } from '../errors.ts';
import { FramedSocket } from '../net/framed-socket.ts';
import { PREAMBLE } from '../protocol/frame-types.ts';
import { newNonce } from '../protocol/handshake.ts';
import { encodeMessage, type MessageOf } from '../protocol/messages.ts';

export type HandshakeResult =
  | { kind: 'command'; framed: FramedSocket; serverNonce: Buffer; auth: MessageOf<'AUTH'> }
  | { kind: 'proxy'; framed: FramedSocket; serverNonce: Buffer; hello: MessageOf<'PROXY_HELLO'> };

export function acceptHandshake(
  socket: Socket,
  options: { maxFrameSize: number; timeoutMs: number },
): Promise<HandshakeResult> {
  return new Promise((resolve, reject) => {
    const serverNonce = newNonce();
    let settled = false;
    const fail = (error: MuonError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (!socket.destroyed && socket.writable) {
        socket.end(encodeMessage({ type: 'ERROR', code: error.code, message: error.message }));
        socket.setTimeout(1000, () => socket.destroy());
      }
      reject(error);
    };
    const timer = setTimeout(
      () => fail(new MuonError('MUON_ERR_HANDSHAKE_TIMEOUT', `no handshake within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    const onClose = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new MuonError('MUON_ERR_PEER_ERROR', 'connection closed during handshake'));
    };
    socket.once('close', onClose);
    socket.on('error', () => {}); // surfaced through 'close'

    const framed = new FramedSocket(
      socket,
      { maxFrameSize: options.maxFrameSize, expectPreamble: true },
      {
        onMessage: (msg) => {
          if (msg.type !== 'AUTH' && msg.type !== 'PROXY_HELLO') {
            return fail(new MuonError('MUON_ERR_UNEXPECTED_FRAME', `${msg.type} is not a handshake frame`));
          }
          settled = true;
          clearTimeout(timer);
          socket.off('close', onClose);
          // Keep what follows (in this chunk or the next) for the channel's real handler.
          framed.hold();
          socket.pause();
          resolve(
            msg.type === 'AUTH'
              ? { kind: 'command', framed, serverNonce, auth: msg }
              : { kind: 'proxy', framed, serverNonce, hello: msg },
          );
        },
        onData: () => fail(new MuonError('MUON_ERR_UNEXPECTED_FRAME', 'DATA before the handshake')),
      },
      (error) => fail(error),
    );
    socket.write(Buffer.concat([PREAMBLE, encodeMessage({ type: 'CHALLENGE', serverNonce })]));
  });
}
