// The soak suite's target service, a child process of the runner: one loopback TCP echo port that
// every client's mapping points at. It echoes each connection and half-closes when the peer does.
// IPC: sends { type: 'listening', port }; answers { type: 'count' } with the connections open.

import { createServer } from 'node:net';
import type { Message } from './child.ts';

export type EchoCommand = { type: 'count' };
export type EchoEvent = { type: 'listening'; port: number } | { type: 'count'; open: number };

let open = 0;
const server = createServer({ allowHalfOpen: true }, (socket) => {
  open++;
  socket.setNoDelay(true);
  socket.on('error', () => {});
  socket.on('close', () => open--);
  socket.pipe(socket);
});
// A burst dials thousands of connections at once: a short backlog would only delay them (SYN retries).
server.listen({ host: '127.0.0.1', port: 0, backlog: 4096 }, () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  send({ type: 'listening', port: address.port });
});

process.on('message', (message: Message) => {
  if (message.type === 'count') send({ type: 'count', open });
});
// The runner went away: so do we.
process.on('disconnect', () => process.exit(0));

function send(event: EchoEvent): void {
  process.send?.(event);
}
