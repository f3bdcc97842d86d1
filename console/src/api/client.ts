// The typed admin API client. Every call goes to the same origin with the HttpOnly session
// cookie (the console never holds the token in script-readable storage). Failures become
// ApiError with the server's stable code and, for validation errors, the field concerned.

import type * as T from './types.ts';

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | undefined;

  constructor(status: number, code: string, message: string, field?: string) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

type Query = Record<string, string | number | boolean | null | undefined>;

/** Called when the session is gone (401 on anything but login); the app returns to login. */
let onUnauthorized: () => void = () => {};
export function whenUnauthorized(handler: () => void): void {
  onUnauthorized = handler;
}

function queryString(query: Query = {}): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

async function request<R>(method: string, path: string, body?: unknown, query?: Query): Promise<R> {
  let response: Response;
  try {
    response = await fetch(`/api${path}${queryString(query)}`, {
      method,
      credentials: 'same-origin',
      headers: {
        accept: 'application/json',
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
  } catch {
    throw new ApiError(0, 'MUON_ERR_NETWORK', 'the server cannot be reached; check your connection');
  }
  if (response.status === 204) return undefined as R;
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (response.ok) return json as R;
  const error = (json as Partial<T.ErrorBody> | undefined)?.error;
  if (response.status === 401 && path !== '/auth/login') onUnauthorized();
  throw new ApiError(
    response.status,
    error?.code ?? `HTTP_${response.status}`,
    error?.message ?? `the server answered ${response.status} ${response.statusText}`,
    error?.field,
  );
}

const get = <R>(path: string, query?: Query) => request<R>('GET', path, undefined, query);
const post = <R>(path: string, body?: unknown) => request<R>('POST', path, body ?? {});
const patch = <R>(path: string, body: unknown) => request<R>('PATCH', path, body);
const del = (path: string) => request<void>('DELETE', path);

export interface PageQuery extends Query {
  limit?: number;
  offset?: number;
}

export const api = {
  auth: {
    login: (username: string, password: string) =>
      post<T.LoginResponse>('/auth/login', { username, password }),
    logout: () => post<void>('/auth/logout'),
    session: () => get<T.SessionResponse>('/auth/session'),
    changePassword: (current: string, next: string) =>
      post<{ token: string }>('/auth/password', { current, next }),
  },
  server: () => get<T.ServerInfoView>('/server'),
  licenses: {
    list: (q: PageQuery & { search?: string; ownerId?: number } = {}) =>
      get<T.Page<T.LicenseView>>('/licenses', q),
    get: (id: number) => get<T.LicenseView>(`/licenses/${id}`),
    create: (body: T.NewLicenseRequest) => post<T.LicenseView>('/licenses', body),
    update: (id: number, body: T.LicensePatchRequest) => patch<T.LicenseView>(`/licenses/${id}`, body),
    resetKey: (id: number) => post<T.LicenseView>(`/licenses/${id}/reset-key`),
    remove: (id: number) => del(`/licenses/${id}`),
    mappings: (id: number) => get<{ items: T.MappingView[] }>(`/licenses/${id}/mappings`),
    freePorts: (id: number, protocol: 'tcp' | 'udp', limit = 50) =>
      get<{ items: number[] }>(`/licenses/${id}/free-ports`, { protocol, limit }),
    addMapping: (id: number, body: T.NewMappingRequest) =>
      post<T.MappingView>(`/licenses/${id}/mappings`, body),
  },
  mappings: {
    list: (
      q: PageQuery & {
        licenseId?: number;
        ownerId?: number;
        protocol?: string;
        enabled?: boolean;
        online?: boolean;
      } = {},
    ) => get<T.Page<T.MappingView>>('/mappings', q),
    get: (id: number) => get<T.MappingView>(`/mappings/${id}`),
    update: (id: number, body: T.MappingPatchRequest) => patch<T.MappingView>(`/mappings/${id}`, body),
    remove: (id: number) => del(`/mappings/${id}`),
  },
  users: {
    list: (q: PageQuery & { search?: string; role?: string } = {}) => get<T.Page<T.UserView>>('/users', q),
    create: (body: T.NewUserRequest) => post<T.UserView>('/users', body),
    update: (id: number, body: T.UserPatchRequest) => patch<T.UserView>(`/users/${id}`, body),
    remove: (id: number) => del(`/users/${id}`),
  },
  portPool: {
    list: (q: PageQuery = {}) => get<T.Page<T.PoolRangeView>>('/port-pool', q),
    create: (body: T.PoolRangeRequest) => post<T.PoolRangeView>('/port-pool', body),
    update: (id: number, body: Partial<T.PoolRangeRequest>) =>
      patch<T.PoolRangeView>(`/port-pool/${id}`, body),
    remove: (id: number) => del(`/port-pool/${id}`),
  },
  portGroups: {
    list: (q: PageQuery = {}) => get<T.Page<T.PortGroupView>>('/port-groups', q),
    get: (id: number) => get<T.PortGroupDetail>(`/port-groups/${id}`),
    create: (body: T.PortGroupRequest) => post<T.PortGroupView>('/port-groups', body),
    update: (id: number, body: Partial<T.PortGroupRequest>) =>
      patch<T.PortGroupView>(`/port-groups/${id}`, body),
    remove: (id: number) => del(`/port-groups/${id}`),
    assign: (id: number, body: T.AssignmentRequest) => post<unknown>(`/port-groups/${id}/assignments`, body),
    unassign: (assignmentId: number) => del(`/port-groups/assignments/${assignmentId}`),
  },
  securityGroups: {
    list: (q: PageQuery = {}) => get<T.Page<T.SecurityGroupView>>('/security-groups', q),
    get: (id: number) => get<T.SecurityGroupDetail>(`/security-groups/${id}`),
    create: (body: T.SecurityGroupRequest) => post<T.SecurityGroupView>('/security-groups', body),
    update: (id: number, body: Partial<T.SecurityGroupRequest>) =>
      patch<T.SecurityGroupView>(`/security-groups/${id}`, body),
    remove: (id: number) => del(`/security-groups/${id}`),
    addRule: (id: number, body: T.SecurityRuleRequest) =>
      post<T.SecurityRuleView>(`/security-groups/${id}/rules`, body),
    updateRule: (ruleId: number, body: Partial<T.SecurityRuleRequest>) =>
      patch<T.SecurityRuleView>(`/security-groups/rules/${ruleId}`, body),
    removeRule: (ruleId: number) => del(`/security-groups/rules/${ruleId}`),
  },
  domains: {
    list: (q: PageQuery & { search?: string } = {}) => get<T.Page<T.DomainView>>('/domains', q),
    create: (body: T.NewDomainRequest) => post<T.DomainView>('/domains', body),
    update: (id: number, body: T.DomainPatchRequest) => patch<T.DomainView>(`/domains/${id}`, body),
    remove: (id: number) => del(`/domains/${id}`),
  },
  reports: {
    summary: () => get<T.SummaryView>('/reports/summary'),
    traffic: (q: {
      licenseId?: number;
      mappingId?: number;
      granularity: T.Granularity;
      from?: string;
      to?: string;
    }) => get<T.TrafficView>('/reports/traffic', q),
    online: (q: PageQuery = {}) => get<T.Page<T.LicenseView>>('/reports/online', q),
    connections: (q: PageQuery & { licenseId?: number; from?: string; to?: string } = {}) =>
      get<T.Page<T.ConnectionView>>('/reports/connections', q),
    logins: (q: PageQuery & { from?: string; to?: string } = {}) =>
      get<T.Page<T.LoginAttemptView>>('/reports/logins', q),
  },
};
