// Validates the address ranges of security group rules: IPv4 or IPv6 CIDR blocks, or a single
// address (stored as /32 or /128). Host bits must be zero, so a rule means what it says.

import { isIPv4, isIPv6 } from 'node:net';
import { MuonError } from '../errors.ts';

function invalid(text: string, why: string): MuonError {
  return new MuonError('MUON_ERR_INVALID_INPUT', `cidr: "${text}" ${why}`);
}

/** The canonical text of a CIDR block ("10.0.0.0/8", "2001:db8::/32"). */
export function normalizeCidr(text: string): string {
  const [address = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) throw invalid(text, 'is not an address or CIDR block');
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
  if (!family) throw invalid(text, 'is not an IPv4 or IPv6 address or CIDR block');
  const bits = family === 'ipv4' ? 32 : 128;
  const prefix =
    prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (!(prefix >= 0 && prefix <= bits)) throw invalid(text, `has a prefix length outside 0–${bits}`);
  const value = toBigInt(address, family);
  const hostBits = BigInt(bits - prefix);
  const network = (value >> hostBits) << hostBits;
  const canonical = `${fromBigInt(network, family)}/${prefix}`;
  if (network !== value) throw invalid(text, `has host bits set (did you mean ${canonical}?)`);
  return canonical;
}

function toBigInt(address: string, family: 'ipv4' | 'ipv6'): bigint {
  if (family === 'ipv4') return address.split('.').reduce((n, part) => (n << 8n) | BigInt(Number(part)), 0n);
  let text = address.toLowerCase();
  // An embedded IPv4 tail (::ffff:10.0.0.1) becomes two hex groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4?.[1]) {
    const n = toBigInt(v4[1], 'ipv4');
    text = `${text.slice(0, -v4[1].length)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === undefined || tail === '' ? [] : tail.split(':');
  const missing = 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array<string>(tail === undefined ? 0 : missing).fill('0'), ...tailGroups];
  return groups.reduce((n, group) => (n << 16n) | BigInt(Number.parseInt(group, 16)), 0n);
}

function fromBigInt(value: bigint, family: 'ipv4' | 'ipv6'): string {
  if (family === 'ipv4') return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
  const groups = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(((value >> shift) & 0xffffn).toString(16));
  // Compress the longest run of zero groups (RFC 5952).
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
  const head = groups.slice(0, best.start).join(':');
  const tail = groups.slice(best.start + best.length).join(':');
  return `${head}::${tail}`;
}
