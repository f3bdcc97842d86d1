// A self-signed X.509 v3 server certificate (ECDSA P-256, ecdsa-with-SHA256), DER-encoded by hand
// on top of node:crypto alone. It exists for memory: generating it with @peculiar/x509 and
// webcrypto, as Muon once did, cost the server ~12 MB of resident memory, while
// generateKeyPairSync + crypto.sign cost nothing measurable (docs/benchmarks.md).

import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { parseIp } from './ip-address.ts';

export interface SelfSignedOptions {
  /** Subject and issuer common name. */
  commonName: string;
  /** subjectAltName dNSName entries (ASCII). */
  dnsNames: readonly string[];
  /** subjectAltName iPAddress entries, IPv4 or IPv6 text. */
  ips: readonly string[];
  notBefore: Date;
  notAfter: Date;
}

const ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
const COMMON_NAME = '2.5.4.3';
const BASIC_CONSTRAINTS = '2.5.29.19';
const KEY_USAGE = '2.5.29.15';
const EXT_KEY_USAGE = '2.5.29.37';
const SUBJECT_ALT_NAME = '2.5.29.17';
const SUBJECT_KEY_ID = '2.5.29.14';
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
/** BIT STRING with 7 unused bits and only bit 0 (digitalSignature) set. */
const DIGITAL_SIGNATURE_ONLY = Buffer.from([0x07, 0x80]);
/** The uncompressed EC point (04 || X || Y) that ends a P-256 SubjectPublicKeyInfo. */
const P256_POINT_BYTES = 65;

/** A fresh ECDSA P-256 key and a certificate signed by it (ecdsa-with-SHA256), both PEM. */
export function createSelfSigned(o: SelfSignedOptions): { cert: string; key: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const serial = randomBytes(16);
  // Positive (top bit clear) and minimal (first byte non-zero): a DER INTEGER of exactly 16 bytes.
  serial[0] = ((serial[0] ?? 0) & 0x7f) | 0x40;
  const algorithm = sequence(oid(ECDSA_WITH_SHA256));
  const name = sequence(set(sequence(oid(COMMON_NAME), tlv(0x0c, Buffer.from(o.commonName, 'utf8')))));
  const tbs = sequence(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, serial),
    algorithm,
    name,
    sequence(time(o.notBefore), time(o.notAfter)),
    name,
    spki,
    tlv(0xa3, sequence(...extensions(o, spki))),
  );
  const signature = sign('sha256', tbs, privateKey);
  const der = sequence(tbs, algorithm, tlv(0x03, Buffer.from([0]), signature));
  const body = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  };
}

function extensions(o: SelfSignedOptions, spki: Buffer): Buffer[] {
  const keyId = createHash('sha1').update(spki.subarray(-P256_POINT_BYTES)).digest();
  const list = [
    extension(BASIC_CONSTRAINTS, true, sequence()),
    extension(KEY_USAGE, true, tlv(0x03, DIGITAL_SIGNATURE_ONLY)),
    extension(EXT_KEY_USAGE, false, sequence(oid(SERVER_AUTH))),
  ];
  const altNames = [...o.dnsNames.map(dnsName), ...o.ips.map(ipAddress)];
  // GeneralNames may not be empty: with no names there is no extension.
  if (altNames.length > 0) list.push(extension(SUBJECT_ALT_NAME, false, sequence(...altNames)));
  list.push(extension(SUBJECT_KEY_ID, false, tlv(0x04, keyId)));
  return list;
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  const flag = critical ? [tlv(0x01, Buffer.from([0xff]))] : [];
  return sequence(oid(id), ...flag, tlv(0x04, value));
}

function dnsName(name: string): Buffer {
  // An IA5String holds ASCII only, the one case where UTF-8 takes a byte per UTF-16 unit.
  if (Buffer.byteLength(name) !== name.length) throw new TypeError(`DNS name is not ASCII: ${name}`);
  return tlv(0x82, Buffer.from(name, 'ascii'));
}

function ipAddress(text: string): Buffer {
  const ip = parseIp(text);
  if (ip === undefined) throw new TypeError(`not an IP address: ${text}`);
  const width = ip.family === 4 ? 4 : 16;
  return tlv(0x87, Buffer.from(ip.value.toString(16).padStart(width * 2, '0'), 'hex'));
}

/** UTCTime for 1950–2049 and GeneralizedTime otherwise (RFC 5280 4.1.2.5), to the second, in UTC. */
function time(date: Date): Buffer {
  const digits = date.toISOString().slice(0, 19).replace(/\D/g, '');
  const year = date.getUTCFullYear();
  if (year >= 1950 && year <= 2049) return tlv(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii'));
  return tlv(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}

function oid(dotted: string): Buffer {
  const [first = 0, second = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * first + second];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let n = arc >>> 7; n > 0; n >>>= 7) base128.unshift((n & 0x7f) | 0x80);
    bytes.push(...base128);
  }
  return tlv(0x06, Buffer.from(bytes));
}

function sequence(...content: Buffer[]): Buffer {
  return tlv(0x30, ...content);
}

function set(...content: Buffer[]): Buffer {
  return tlv(0x31, ...content);
}

/** One DER element: tag, definite length (short form below 128, long form otherwise), content. */
function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const length: number[] = [];
  for (let n = body.length; n > 0; n >>>= 8) length.unshift(n & 0xff);
  const header = body.length < 0x80 ? [body.length] : [0x80 | length.length, ...length];
  return Buffer.concat([Buffer.from([tag, ...header]), body]);
}
