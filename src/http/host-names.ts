// Host names as the HTTP router and the store see them: a Host header's value (validated, lower
// case, port split off), the host names of mappings (exact names, or wildcards of one label such
// as *.app.example.com), the registered domain a name falls under, and whether a certificate's
// names cover a name. Pure: no sockets, no store.

import { isIPv4, isIPv6 } from 'node:net';

/** A Host header (or TLS server name) reduced to what routing needs. */
export interface HostHeader {
  /** Lower case, without a trailing dot; an IPv6 address keeps its brackets. */
  name: string;
  port: number | undefined;
}

const MAX_NAME = 253;
/** Letters, digits, hyphens and (in names visitors send) underscores; 1–63 characters. */
const VISITOR_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;
/** What an operator may register: letters, digits and inner hyphens. */
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** A Host header value (`name`, `name:port`, `[v6]:port`); undefined for anything absurd. */
export function parseHostHeader(value: string): HostHeader | undefined {
  if (value.length === 0 || value.length > MAX_NAME + 8) return undefined;
  let host: string;
  let portText: string | undefined;
  if (value.startsWith('[')) {
    const match = /^(\[[0-9a-fA-F:.]+\])(?::(\d{1,5}))?$/.exec(value);
    if (!match || !isIPv6((match[1] as string).slice(1, -1))) return undefined;
    host = (match[1] as string).toLowerCase();
    portText = match[2];
  } else {
    const match = /^([^:]+)(?::(\d{1,5}))?$/.exec(value);
    if (!match) return undefined;
    host = normalizeHostname(match[1] as string);
    portText = match[2];
    if (!isIPv4(host) && !isVisitorName(host)) return undefined;
  }
  let port: number | undefined;
  if (portText !== undefined) {
    port = Number(portText);
    if (port < 1 || port > 65535) return undefined;
  }
  return { name: host, port };
}

/** Lower case, surrounding whitespace and one trailing dot removed. */
export function normalizeHostname(text: string): string {
  const lower = text.trim().toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

function isVisitorName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_NAME) return false;
  return name.split('.').every((label) => VISITOR_LABEL.test(label));
}

/** A name an operator may register (a base domain, or an exact mapping host name). */
export function isDomainName(name: string): boolean {
  if (name.length === 0 || name.length > MAX_NAME || isIPv4(name)) return false;
  const labels = name.split('.');
  return labels.length >= 2 && labels.every((label) => LABEL.test(label));
}

/** A mapping host name: an exact name, or `*.` followed by a name (a wildcard of one label). */
export function isHostnamePattern(name: string): boolean {
  return name.startsWith('*.') ? isDomainName(name.slice(2)) : isDomainName(name);
}

/** Whether `name` (an exact name or a wildcard pattern) is `base` or lies below it. */
export function isUnder(name: string, base: string): boolean {
  const bare = name.startsWith('*.') ? name.slice(2) : name;
  return bare === base || bare.endsWith(`.${base}`);
}

/** The wildcard pattern that would serve `name`: `*.` and its parent (one label only). */
export function wildcardOf(name: string): string | undefined {
  const dot = name.indexOf('.');
  return dot > 0 && dot < name.length - 1 ? `*.${name.slice(dot + 1)}` : undefined;
}

/**
 * The longest of `bases` that `name` is or lies below, trying each suffix of `name` in turn
 * (so the cost is the number of labels, not the number of domains).
 */
export function baseDomainOf<T>(name: string, bases: ReadonlyMap<string, T>): T | undefined {
  let rest = name.startsWith('*.') ? name.slice(2) : name;
  for (;;) {
    const found = bases.get(rest);
    if (found !== undefined) return found;
    const dot = rest.indexOf('.');
    if (dot < 0) return undefined;
    rest = rest.slice(dot + 1);
  }
}

/**
 * Whether a certificate whose DNS names are `certNames` is valid for `name` (RFC 6125: a
 * wildcard stands for exactly one whole left-most label). A wildcard pattern is covered only by
 * the same wildcard in the certificate.
 */
export function certificateCovers(certNames: readonly string[], name: string): boolean {
  const names = certNames.map(normalizeHostname);
  if (names.includes(name)) return true;
  if (name.startsWith('*.')) return false;
  const wildcard = wildcardOf(name);
  return wildcard !== undefined && names.includes(wildcard);
}

/** A host for a `host:port` text: IPv6 addresses in brackets. */
export function formatHost(host: string): string {
  return isIPv6(host) ? `[${host}]` : host;
}
