// How acme-client reaches the authority. It sends every request through one axios instance for the
// whole process; this sets that instance up once and gives each directory's origin its own HTTPS
// agent, which trusts an extra CA certificate when one is configured (a private authority, or a
// test one) besides the usual roots. acme-client's own retry handler is replaced: it sleeps in
// the process (for hours, after a long Retry-After) and turns a network failure into a TypeError;
// the certificate manager retries whole orders with backoff instead.

import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import * as acme from 'acme-client';
import { MuonError } from '../errors.ts';

/** How long one request to the authority may take. */
const REQUEST_TIMEOUT_MS = 30_000;

interface Trust {
  agent: Agent;
  users: number;
}

/** What acme-client's request handler leaves on a request: the status check it moved aside. */
interface AcmeRequestConfig {
  url?: string | undefined;
  retryValidateStatus?: ((status: number) => boolean) | null | undefined;
}

interface FailedRequest {
  config?: AcmeRequestConfig | undefined;
  response?: { status: number } | undefined;
  code?: string | undefined;
  message?: string | undefined;
}

const byOrigin = new Map<string, Trust>();
let configured = false;

function originOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

function configure(): void {
  if (configured) return;
  configured = true;
  acme.axios.defaults.timeout = REQUEST_TIMEOUT_MS;
  acme.axios.interceptors.request.use((config) => {
    const trust = byOrigin.get(originOf(config.url) ?? '');
    if (trust) config.httpsAgent = trust.agent;
    return config;
  });
  // acme-client makes every answer arrive here as an error (its request handler sets
  // validateStatus to refuse all): hand answers back as answers, with its status check applied.
  acme.axios.interceptors.response.clear();
  acme.axios.interceptors.response.use(null, (error: FailedRequest) => {
    const { config, response } = error;
    if (!response) {
      const where = originOf(config?.url) ?? 'the ACME authority';
      const why = [error.code, error.message].filter(Boolean).join(': ') || 'no answer';
      return Promise.reject(new MuonError('MUON_ERR_ACME_FAILED', `cannot reach ${where} (${why})`));
    }
    const accept = config?.retryValidateStatus;
    if (!accept || accept(response.status)) return response;
    return Promise.reject(error);
  });
}

/**
 * Makes requests to the directory's origin use an agent that trusts `caCertificate` (PEM) as well
 * as the usual roots (the first caller's CA, if two name the same origin). Returns the release,
 * to call once the caller is done with the authority.
 */
export function useDirectory(directoryUrl: string, caCertificate: string | undefined): () => void {
  configure();
  const origin = originOf(directoryUrl);
  if (origin === undefined) return () => {};
  let trust = byOrigin.get(origin);
  if (!trust) {
    trust = {
      agent: new Agent({
        keepAlive: false,
        ...(caCertificate && { ca: [...rootCertificates, caCertificate] }),
      }),
      users: 0,
    };
    byOrigin.set(origin, trust);
  }
  trust.users++;
  const held = trust;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    held.users--;
    if (held.users === 0 && byOrigin.get(origin) === held) {
      byOrigin.delete(origin);
      held.agent.destroy();
    }
  };
}
