// The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2) that tells a target
// behind Muon who the visitor really is: v1's text line or v2's binary block, for TCP over IPv4
// or IPv6, or the "unknown" form when the visitor's address is not known. Pure: no sockets.

import type { ProxyProtocolVersion } from '../protocol/messages.ts';
import { formatIp, type IpAddress, parseIp, unmapIpv4 } from './ip-address.ts';

export interface ProxyEndpoint {
  /** An IPv4 or IPv6 address as text (a socket's remoteAddress or localAddress). */
  address: string;
  port: number;
}

export interface ProxyEndpoints {
  /** The visitor. */
  source: ProxyEndpoint;
  /** The public address and port the visitor connected to. */
  destination: ProxyEndpoint;
}

/** The 12 bytes that open every v2 header ("\r\n\r\n\0\r\nQUIT\n"). */
export const PROXY_V2_SIGNATURE = Buffer.from([
  0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
]);

/** Version 2 (high nibble) and the PROXY command (low nibble): the connection was relayed. */
const V2_PROXY_COMMAND = 0x21;
/** Address family (high nibble) and transport (low nibble, 1 = stream). */
const V2_TCP4 = 0x11;
const V2_TCP6 = 0x21;
const V2_UNSPEC = 0x00;

const MAPPED_PREFIX = 0xffffn << 32n;

/**
 * The header to write before the visitor's first byte. `endpoints` undefined, or an address that
 * is not IPv4 or IPv6, or a port outside 0–65535, gives the "unknown" form: v1 `PROXY UNKNOWN`,
 * v2 the PROXY command with the unspecified family and no addresses.
 */
export function encodeProxyHeader(version: ProxyProtocolVersion, endpoints?: ProxyEndpoints): Buffer {
  const pair = endpoints && addressPair(endpoints);
  return version === 'v1' ? encodeV1(pair) : encodeV2(pair);
}

interface AddressPair {
  family: 4 | 6;
  source: bigint;
  destination: bigint;
  sourcePort: number;
  destinationPort: number;
}

/**
 * Both addresses in one family, as the header needs: IPv4 when both are IPv4 (an IPv4-mapped
 * IPv6 address, from a dual-stack listener, counts as IPv4), else both IPv6, an IPv4 address
 * written in its mapped form.
 */
function addressPair({ source, destination }: ProxyEndpoints): AddressPair | undefined {
  const from = parseIp(source.address);
  const to = parseIp(destination.address);
  if (!from || !to || !isPort(source.port) || !isPort(destination.port)) return undefined;
  const from4 = unmapIpv4(from);
  const to4 = unmapIpv4(to);
  const ports = { sourcePort: source.port, destinationPort: destination.port };
  if (from4.family === 4 && to4.family === 4) {
    return { family: 4, source: from4.value, destination: to4.value, ...ports };
  }
  return { family: 6, source: asIpv6(from), destination: asIpv6(to), ...ports };
}

function encodeV1(pair: AddressPair | undefined): Buffer {
  if (!pair) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const { family } = pair;
  const source = formatIp({ family, value: pair.source });
  const destination = formatIp({ family, value: pair.destination });
  return Buffer.from(
    `PROXY TCP${family} ${source} ${destination} ${pair.sourcePort} ${pair.destinationPort}\r\n`,
    'latin1',
  );
}

function encodeV2(pair: AddressPair | undefined): Buffer {
  const addressLength = pair === undefined ? 0 : pair.family === 4 ? 12 : 36;
  const header = Buffer.alloc(16 + addressLength);
  PROXY_V2_SIGNATURE.copy(header, 0);
  header[12] = V2_PROXY_COMMAND;
  header[13] = pair === undefined ? V2_UNSPEC : pair.family === 4 ? V2_TCP4 : V2_TCP6;
  header.writeUInt16BE(addressLength, 14);
  if (!pair) return header;
  const size = pair.family === 4 ? 4 : 16;
  writeAddress(header, 16, pair.source, size);
  writeAddress(header, 16 + size, pair.destination, size);
  header.writeUInt16BE(pair.sourcePort, 16 + 2 * size);
  header.writeUInt16BE(pair.destinationPort, 18 + 2 * size);
  return header;
}

/** Writes `value` as `size` big-endian bytes. */
function writeAddress(buf: Buffer, offset: number, value: bigint, size: number): void {
  for (let i = size - 1, v = value; i >= 0; i--, v >>= 8n) buf[offset + i] = Number(v & 0xffn);
}

function asIpv6(address: IpAddress): bigint {
  return address.family === 6 ? address.value : MAPPED_PREFIX | address.value;
}

function isPort(port: number): boolean {
  return Number.isInteger(port) && port >= 0 && port <= 0xffff;
}
