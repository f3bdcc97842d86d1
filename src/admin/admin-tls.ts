// What the admin API serves HTTPS with (`admin.tls`): nothing (plain HTTP, the default), the
// tunnel's own identity (`true`: the certificate whose fingerprint the server already prints), or
// the operator's PEM files, read and checked before anything starts so that a bad file stops the
// server with an error naming the setting rather than half-way through its start. The key is
// never part of a message.

import { readFile } from 'node:fs/promises';
import type { ServerConfig } from '../config/server-config.ts';
import { describeIoError } from '../config/yaml-file.ts';
import { MuonError } from '../errors.ts';
import { checkKeyPair, type PairFault } from '../http/domain-certificate.ts';
import { fingerprintOf } from '../net/fingerprint.ts';

export interface AdminTls {
  /** PEM certificate (or chain, leaf first). */
  cert: string;
  /** PEM private key. */
  key: string;
  /** SHA-256 of the leaf, `AB:CD:…`: what a browser shows for the certificate. */
  fingerprint: string;
}

type AdminTlsSetting = ServerConfig['admin']['tls'];

/** undefined: plain HTTP. Throws MUON_ERR_CONFIG naming admin.tls.cert or admin.tls.key. */
export async function loadAdminTls(
  setting: AdminTlsSetting,
  own: { cert: string; key: string },
): Promise<AdminTls | undefined> {
  if (setting === undefined || setting === false) return undefined;
  if (setting === true) return { cert: own.cert, key: own.key, fingerprint: fingerprintOf(own.cert) };
  const cert = await readSetting('admin.tls.cert', setting.cert);
  const key = await readSetting('admin.tls.key', setting.key);
  const files = {
    certificate: { name: 'admin.tls.cert', path: setting.cert },
    privateKey: { name: 'admin.tls.key', path: setting.key },
  };
  const fault: PairFault = (field, reason, cause) => {
    const { name, path } = files[field];
    return new MuonError('MUON_ERR_CONFIG', `${name}: ${path}: ${reason}`, { cause });
  };
  const { fingerprint } = await checkKeyPair(cert, key, fault);
  return { cert, key, fingerprint };
}

async function readSetting(name: string, path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new MuonError('MUON_ERR_CONFIG', `${name}: cannot read ${path}: ${describeIoError(error)}`, {
      cause: error,
    });
  }
}
