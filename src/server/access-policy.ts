// A security group compiled for the hot edge of the tunnel: ordered allow/deny rules on the
// visitor's address, the first match deciding, the group's default action when none matches.
// Compiled once per directory change, evaluated once per visitor; pure, no sockets.

import { bitsOf, type IpFamily, isMappedBlock, parseIp, unmapIpv4 } from '../net/ip-address.ts';
import type { AccessAction, SecurityPolicy } from './directory.ts';

interface CompiledRule {
  allow: boolean;
  family: IpFamily;
  /** Bits below the prefix, ignored when comparing. */
  hostBits: bigint;
  /** The network shifted right by hostBits. */
  network: bigint;
}

export class AccessPolicy {
  readonly #rules: readonly CompiledRule[];
  readonly #allowByDefault: boolean;

  /** `policy.rules` in evaluation order; a rule that does not parse is skipped (the store checks them). */
  constructor(policy: SecurityPolicy) {
    this.#rules = policy.rules.flatMap((rule) => {
      const compiled = compileRule(rule.action, rule.cidr);
      return compiled ? [compiled] : [];
    });
    this.#allowByDefault = policy.defaultAction === 'allow';
  }

  /** Whether a visitor from `address` (a socket's remoteAddress) may connect. Unparseable: denied. */
  allows(address: string | undefined): boolean {
    const parsed = address === undefined ? undefined : parseIp(address);
    if (!parsed) return false;
    // A dual-stack listener reports IPv4 visitors as ::ffff:a.b.c.d: they meet the IPv4 rules.
    const { family, value } = unmapIpv4(parsed);
    for (const rule of this.#rules) {
      if (rule.family === family && value >> rule.hostBits === rule.network) return rule.allow;
    }
    return this.#allowByDefault;
  }
}

function compileRule(action: AccessAction, cidr: string): CompiledRule | undefined {
  const [text = '', prefixText] = cidr.split('/');
  const address = parseIp(text);
  if (!address) return undefined;
  let family = address.family;
  let value = address.value;
  let prefix = prefixText === undefined ? bitsOf(family) : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bitsOf(family)) return undefined;
  // A rule written as an IPv4-mapped block (::ffff:10.0.0.0/104) means the IPv4 block it carries.
  if (family === 6 && isMappedBlock(value, prefix)) {
    family = 4;
    value = unmapIpv4(address).value;
    prefix -= 96;
  }
  const hostBits = BigInt(bitsOf(family) - prefix);
  return { allow: action === 'allow', family, hostBits, network: value >> hostBits };
}
