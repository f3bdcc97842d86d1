// IP addresses as numbers: parsing IPv4 and IPv6 text (with an embedded IPv4 tail or a zone) into
// a family and a bigint, printing them back in canonical form, and seeing an IPv4-mapped IPv6
// address (::ffff:10.0.0.1, what a dual-stack socket reports) as the IPv4 address it carries.

import { isIPv4, isIPv6 } from 'node:net';

export type IpFamily = 4 | 6;

export interface IpAddress {
  family: IpFamily;
  /** 32 bits for IPv4, 128 for IPv6. */
  value: bigint;
}

export function bitsOf(family: IpFamily): number {
  return family === 4 ? 32 : 128;
}

/** The address in `text`, or undefined when it is not an IPv4 or IPv6 address. */
export function parseIp(text: string): IpAddress | undefined {
  if (isIPv4(text)) return { family: 4, value: ipv4Value(text) };
  if (!isIPv6(text)) return undefined;
  // A zone ("fe80::1%eth0") names an interface, not part of the address.
  const zone = text.indexOf('%');
  return { family: 6, value: ipv6Value((zone < 0 ? text : text.slice(0, zone)).toLowerCase()) };
}

const MAPPED_PREFIX = 0xffffn << 32n;
const LOW_32 = 0xffffffffn;

/** ::ffff:a.b.c.d as a.b.c.d; any other address unchanged. */
export function unmapIpv4(address: IpAddress): IpAddress {
  if (address.family === 6 && address.value >> 32n === 0xffffn)
    return { family: 4, value: address.value & LOW_32 };
  return address;
}

/** The /`prefix` block holding `address`, as its first address (the bits below the prefix cleared). */
export function networkOf(address: IpAddress, prefix: number): IpAddress {
  const hostBits = BigInt(bitsOf(address.family) - prefix);
  return { family: address.family, value: (address.value >> hostBits) << hostBits };
}

/** True when a /`prefix` IPv6 block lies inside ::ffff:0:0/96 (so it is really an IPv4 block). */
export function isMappedBlock(network: bigint, prefix: number): boolean {
  return prefix >= 96 && network >> 32n === MAPPED_PREFIX >> 32n;
}

/** Canonical text: dotted quad, or RFC 5952 IPv6 (lower case, longest zero run compressed). */
export function formatIp(address: IpAddress): string {
  const { family, value } = address;
  if (family === 4) return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16));
  let best = { start: -1, length: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.length && j - i > 1) best = { start: i, length: j - i };
    i = j;
  }
  if (best.start < 0) return groups.join(':');
  return `${groups.slice(0, best.start).join(':')}::${groups.slice(best.start + best.length).join(':')}`;
}

function ipv4Value(text: string): bigint {
  let value = 0n;
  for (const part of text.split('.')) value = (value << 8n) | BigInt(Number(part));
  return value;
}

/** `text` is valid IPv6 (checked by the caller), lower case, without a zone. */
function ipv6Value(text: string): bigint {
  let rest = text;
  let tail: bigint | undefined;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(rest);
  if (v4?.[1]) {
    tail = ipv4Value(v4[1]);
    rest = rest.slice(0, -v4[1].length);
    // "::ffff:" leaves a trailing colon, "::" leaves two: either way the tail takes two groups.
    rest = rest.endsWith('::') ? rest : rest.slice(0, -1);
  }
  const [head = '', after] = rest.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = after === undefined || after === '' ? [] : after.split(':');
  const width = tail === undefined ? 8 : 6;
  const missing = after === undefined ? 0 : width - headGroups.length - tailGroups.length;
  let value = 0n;
  for (const group of [...headGroups, ...Array<string>(missing).fill('0'), ...tailGroups])
    value = (value << 16n) | BigInt(Number.parseInt(group, 16));
  return tail === undefined ? value : (value << 32n) | tail;
}
