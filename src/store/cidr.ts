// Validates the address ranges of security group rules: IPv4 or IPv6 CIDR blocks, or a single
// address (stored as /32 or /128). Host bits must be zero, so a rule means what it says.

import { MuonError } from '../errors.ts';
import { bitsOf, formatIp, parseIp } from '../net/ip-address.ts';

function invalid(text: string, why: string): MuonError {
  return new MuonError('MUON_ERR_INVALID_INPUT', `cidr: "${text}" ${why}`);
}

/** The canonical text of a CIDR block ("10.0.0.0/8", "2001:db8::/32"). */
export function normalizeCidr(text: string): string {
  const [address = '', prefixText, extra] = text.trim().split('/');
  if (extra !== undefined) throw invalid(text, 'is not an address or CIDR block');
  // A zone names an interface of this host: meaningless in a rule.
  const parsed = address.includes('%') ? undefined : parseIp(address);
  if (!parsed) throw invalid(text, 'is not an IPv4 or IPv6 address or CIDR block');
  const bits = bitsOf(parsed.family);
  const prefix =
    prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : Number.NaN;
  if (!(prefix >= 0 && prefix <= bits)) throw invalid(text, `has a prefix length outside 0–${bits}`);
  const hostBits = BigInt(bits - prefix);
  const network = (parsed.value >> hostBits) << hostBits;
  const canonical = `${formatIp({ family: parsed.family, value: network })}/${prefix}`;
  if (network !== parsed.value) throw invalid(text, `has host bits set (did you mean ${canonical}?)`);
  return canonical;
}
