// What raw sessions need of the tunnel's transport (docs/architecture.md, "Raw sessions and the
// kernel relay"): which kind this process can carry on a plain or a TLS tunnel, and the keys of a
// sealed one, which both sides export from the channel's TLS session.

import type { TLSSocket } from 'node:tls';
import { MuonError } from '../errors.ts';
import { Features } from '../protocol/messages.ts';
import {
  type KernelRelayEnd,
  kernelRelayAvailable,
  type Seal,
  sealedRelayAvailable,
} from './kernel-relay.ts';

/** Features.RAW on a plain tunnel, Features.SEALED on a TLS one, when the kernel relay here can; else 0. */
export function rawFeature(tls: boolean): number {
  if (tls) return sealedRelayAvailable() ? Features.SEALED : 0;
  return kernelRelayAvailable() ? Features.RAW : 0;
}

/** The exporter label (RFC 5705 / RFC 8446 section 7.5) of sealed-session keys. */
const LABEL = 'EXPORTER-muon-sealed-session';

/**
 * The keys of the sealed session of visitor `visitorId` on `channel`, for the server's or the
 * client's end: 64 bytes exported from the channel's TLS session (with the visitor id as context),
 * the first 32 sealing what the server sends, the rest what the client sends. A channel carries
 * one sealed session at most, so no two sessions share keys. The server's end sends START.
 */
export function sealOf(channel: TLSSocket, visitorId: number, end: 'server' | 'client'): Seal {
  const context = Buffer.alloc(4);
  context.writeUInt32BE(visitorId);
  const keys = channel.exportKeyingMaterial(64, LABEL, context);
  const fromServer = keys.subarray(0, 32);
  const fromClient = keys.subarray(32);
  return end === 'server'
    ? { send: fromServer, receive: fromClient, start: true }
    : { send: fromClient, receive: fromServer, start: false };
}

/** What a sealed relay's end says of the channel's records: an error when they were not sound. */
export function sealedRecordError(end: KernelRelayEnd): MuonError | undefined {
  if (end.error === 'EBADMSG') {
    return new MuonError(
      'MUON_ERR_SEALED_RECORD',
      'a sealed record did not authenticate (changed on the way, or not sealed with the session key)',
    );
  }
  if (end.error === 'EPROTO') {
    return new MuonError(
      'MUON_ERR_SEALED_RECORD',
      'a sealed record was malformed, or the channel ended without its END record',
    );
  }
  return undefined;
}
