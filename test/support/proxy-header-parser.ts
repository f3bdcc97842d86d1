// A strict reader of PROXY protocol headers (proxy-protocol.txt, v1 and v2), written for the tests
// independently of the encoder: it accepts only what the specification allows a sender to send
// for TCP and refuses anything else, so a header it accepts is one any receiver would accept.

import { isIPv4, isIPv6 } from 'node:net';

export interface ParsedProxyHeader {
  version: 1 | 2;
  /** 'UNKNOWN' for v1 UNKNOWN and for v2's unspecified family. */
  family: 'TCP4' | 'TCP6' | 'UNKNOWN';
  source?: { address: string; port: number };
  destination?: { address: string; port: number };
  /** Bytes the header took; the connection's own bytes start there. */
  length: number;
}

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');
const V1_MAX = 107;

/** Parses the header at the start of `data`; undefined when more bytes are needed. Throws on anything invalid. */
export function parseProxyHeader(data: Buffer): ParsedProxyHeader | undefined {
  if (data.length >= V2_SIGNATURE.length && data.subarray(0, 12).equals(V2_SIGNATURE)) return parseV2(data);
  if (V2_SIGNATURE.subarray(0, Math.min(data.length, 12)).equals(data.subarray(0, 12))) return undefined;
  return parseV1(data);
}

function parseV1(data: Buffer): ParsedProxyHeader | undefined {
  const prefix = Buffer.from('PROXY ');
  if (!data.subarray(0, prefix.length).equals(prefix.subarray(0, Math.min(prefix.length, data.length)))) {
    throw new Error('not a PROXY header');
  }
  const end = data.indexOf('\r\n');
  if (end < 0) {
    if (data.length >= V1_MAX) throw new Error('v1 line longer than 107 bytes');
    return undefined;
  }
  if (end + 2 > V1_MAX) throw new Error('v1 line longer than 107 bytes');
  const line = data.toString('latin1', 0, end);
  const fields = line.split(' ');
  if (fields[1] === 'UNKNOWN') return { version: 1, family: 'UNKNOWN', length: end + 2 };
  if (fields.length !== 6) throw new Error(`v1 needs 6 fields, got ${fields.length}`);
  const [, family, source, destination, sourcePort, destinationPort] = fields as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  if (family !== 'TCP4' && family !== 'TCP6') throw new Error(`v1 family ${family}`);
  const valid = family === 'TCP4' ? isIPv4 : isIPv6;
  if (!valid(source) || !valid(destination)) throw new Error(`v1 addresses not ${family}`);
  return {
    version: 1,
    family,
    source: { address: source, port: v1Port(sourcePort) },
    destination: { address: destination, port: v1Port(destinationPort) },
    length: end + 2,
  };
}

/** Decimal, no leading zeros, 0–65535. */
function v1Port(text: string): number {
  if (!/^(0|[1-9]\d{0,4})$/.test(text) || Number(text) > 65535) throw new Error(`v1 port ${text}`);
  return Number(text);
}

function parseV2(data: Buffer): ParsedProxyHeader | undefined {
  if (data.length < 16) return undefined;
  const versionCommand = data[12] as number;
  if (versionCommand >> 4 !== 2) throw new Error('v2 version must be 2');
  if ((versionCommand & 0x0f) !== 1) throw new Error('a relayed connection must use the PROXY command');
  const familyByte = data[13] as number;
  const length = data.readUInt16BE(14);
  if (data.length < 16 + length) return undefined;
  const total = 16 + length;
  if (familyByte === 0x00) return { version: 2, family: 'UNKNOWN', length: total };
  const size = familyByte === 0x11 ? 4 : familyByte === 0x21 ? 16 : undefined;
  if (size === undefined) throw new Error(`v2 family/transport 0x${familyByte.toString(16)} is not TCP`);
  if (length < 2 * size + 4) throw new Error('v2 address block too short');
  const address = (at: number) =>
    size === 4
      ? [...data.subarray(at, at + 4)].join('.')
      : Array.from({ length: 8 }, (_, i) => data.readUInt16BE(at + 2 * i).toString(16)).join(':');
  return {
    version: 2,
    family: size === 4 ? 'TCP4' : 'TCP6',
    source: { address: address(16), port: data.readUInt16BE(16 + 2 * size) },
    destination: { address: address(16 + size), port: data.readUInt16BE(18 + 2 * size) },
    length: total,
  };
}
