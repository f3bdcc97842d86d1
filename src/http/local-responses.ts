// The responses the router writes itself: small self-contained HTML error pages that show the
// stable code (also in an X-Muon-Error header), the 308 redirect to HTTPS, the 401 that asks
// for basic auth, and the answer to an ACME HTTP-01 challenge. Nothing the visitor sent is
// echoed into a page. Each one closes the connection.

import { type ErrorCode, ErrorCodes } from '../errors.ts';

const REASONS: Record<number, string> = {
  200: 'OK',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  421: 'Misdirected Request',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/** What a visitor reads on the page, per code; the code's own description otherwise. */
const EXPLANATIONS: Partial<Record<ErrorCode, string>> = {
  MUON_ERR_HOST_UNKNOWN: 'No site is served at this address.',
  MUON_ERR_NO_CLIENT: 'The service behind this address is offline: its tunnel client is not connected.',
  MUON_ERR_TARGET_UNREACHABLE:
    'The service behind this address is not answering: its tunnel client cannot reach it.',
  MUON_ERR_CONNECT_TIMEOUT: 'The service behind this address did not answer in time.',
  MUON_ERR_IDLE_TIMEOUT: 'The service behind this address stopped answering.',
  MUON_ERR_BAD_RESPONSE:
    'The service behind this address closed the connection or answered with something that is not HTTP.',
  MUON_ERR_ACCESS_DENIED: 'Your address is not allowed to reach this site.',
  MUON_ERR_CONNECTION_LIMIT: 'This site has too many visitors connected right now. Try again in a moment.',
  MUON_ERR_RATE_LIMITED: 'Too many wrong passwords from your address. Try again in a minute.',
  MUON_ERR_HTTP_AUTH_REQUIRED: 'This site needs a user name and password.',
  MUON_ERR_MISDIRECTED: 'This connection was opened for another site name.',
  MUON_ERR_HTTP_MALFORMED: 'The request was malformed or ambiguous and was refused.',
  MUON_ERR_HTTP_HEAD_TOO_LARGE: 'The request headers are too large.',
  MUON_ERR_HTTP_TIMEOUT: 'The request took too long to arrive.',
};

/** The status each code's page is served with, where the code alone decides it. */
export const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  MUON_ERR_HOST_UNKNOWN: 404,
  MUON_ERR_NO_CLIENT: 502,
  MUON_ERR_TARGET_UNREACHABLE: 502,
  MUON_ERR_BAD_RESPONSE: 502,
  MUON_ERR_CONNECT_TIMEOUT: 504,
  MUON_ERR_IDLE_TIMEOUT: 504,
  MUON_ERR_ACCESS_DENIED: 403,
  MUON_ERR_CONNECTION_LIMIT: 503,
  MUON_ERR_POOL_EXHAUSTED: 503,
  MUON_ERR_OUT_OF_FILES: 503,
  MUON_ERR_RATE_LIMITED: 429,
  MUON_ERR_HTTP_AUTH_REQUIRED: 401,
  MUON_ERR_MISDIRECTED: 421,
  MUON_ERR_HTTP_TIMEOUT: 408,
};

function reasonOf(status: number): string {
  return REASONS[status] ?? 'Error';
}

function response(status: number, headers: [string, string][], body: string, method: string): Buffer {
  const bytes = Buffer.from(body, 'utf8');
  const lines = [
    `HTTP/1.1 ${status} ${reasonOf(status)}`,
    ...headers.map(([name, value]) => `${name}: ${value}`),
    `Content-Length: ${bytes.length}`,
    'Cache-Control: no-store',
    'Connection: close',
  ];
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return method === 'HEAD' ? head : Buffer.concat([head, bytes]);
}

function html(title: string, text: string, code: ErrorCode | undefined): string {
  return (
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width,initial-scale=1">' +
    `<title>${title}</title><style>body{font:16px/1.5 system-ui,sans-serif;max-width:36rem;` +
    'margin:12vh auto;padding:0 1rem;color:#222}h1{font-size:1.5rem}code{background:#eee;' +
    'padding:.1em .3em;border-radius:3px}footer{color:#777;font-size:.85rem;margin-top:2rem}</style>' +
    `</head><body><h1>${title}</h1><p>${text}</p>` +
    (code ? `<p><code>${code}</code></p>` : '') +
    '<footer>Muon</footer></body></html>\n'
  );
}

const PAGE_HEADERS: [string, string][] = [
  ['Content-Type', 'text/html; charset=utf-8'],
  ['X-Content-Type-Options', 'nosniff'],
  ['Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'"],
];

/** An error page for `code`; `status` defaults to the code's own. */
export function errorPage(
  code: ErrorCode,
  method: string,
  options: { status?: number; headers?: [string, string][] } = {},
): Buffer {
  const status = options.status ?? STATUS_OF[code] ?? 500;
  const title = `${status} ${reasonOf(status)}`;
  const text = EXPLANATIONS[code] ?? ErrorCodes[code];
  return response(
    status,
    [...PAGE_HEADERS, ['X-Muon-Error', code], ...(options.headers ?? [])],
    html(title, text, code),
    method,
  );
}

/** 401 with the challenge that makes a browser ask for a user name and password. */
export function authRequired(method: string, realm: string): Buffer {
  const quoted = realm.replace(/[^\x20-\x7e]|["\\]/g, '');
  return errorPage('MUON_ERR_HTTP_AUTH_REQUIRED', method, {
    headers: [['WWW-Authenticate', `Basic realm="${quoted}", charset="UTF-8"`]],
  });
}

/** 308 to the same host and path on HTTPS (`port` omitted when it is 443). */
export function redirectToHttps(method: string, hostName: string, port: number, target: string): Buffer {
  const path = target.startsWith('/') ? target : (/^https?:\/\/[^/?#]*(.*)$/i.exec(target)?.[1] ?? '/');
  const location = `https://${hostName}${port === 443 ? '' : `:${port}`}${path.startsWith('/') ? path : `/${path}`}`;
  return response(
    308,
    [...PAGE_HEADERS, ['Location', location]],
    html('308 Permanent Redirect', 'This site is served over HTTPS.', undefined),
    method,
  );
}

/** 200 with an ACME HTTP-01 key authorization (RFC 8555 §8.3: the body is the text itself). */
export function challengeAnswer(method: string, keyAuthorization: string): Buffer {
  return response(
    200,
    [
      ['Content-Type', 'application/octet-stream'],
      ['X-Content-Type-Options', 'nosniff'],
    ],
    keyAuthorization,
    method,
  );
}
