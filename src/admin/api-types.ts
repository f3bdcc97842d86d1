// The admin API's request and response types as they travel over JSON, for typed clients such as
// the web console. They are derived from the store's own types and the routes' body schemas, so
// a change on the server side is a compile error in the console rather than a runtime surprise.

import type { z } from 'zod';
import type { ErrorCode } from '../errors.ts';
import type { ClientConnection } from '../store/repositories/connection-log.ts';
import type { Domain } from '../store/repositories/domains.ts';
import type { License } from '../store/repositories/licenses.ts';
import type { LoginAttempt } from '../store/repositories/login-log.ts';
import type { Mapping } from '../store/repositories/mapping-records.ts';
import type { Assignment, PortGroup } from '../store/repositories/port-groups.ts';
import type { PoolRange } from '../store/repositories/port-pool.ts';
import type { SecurityGroup, SecurityRule } from '../store/repositories/security-groups.ts';
import type { User } from '../store/repositories/users.ts';
import type { accountView } from './auth-routes.ts';
import type { DomainPatchBody, NewDomainBody } from './domain-routes.ts';
import type { LicensePatchBody, MappingPatchBody, NewLicenseBody, NewMappingBody } from './license-routes.ts';
import type { AssignmentBody, GroupBody as PortGroupBody, RangeBody } from './port-routes.ts';
import type { Summary } from './report-routes.ts';
import type { RuleBody, GroupBody as SecurityGroupBody } from './security-group-routes.ts';
import type { ServerInfo } from './server-routes.ts';
import type { NewUserBody, UserPatchBody } from './user-routes.ts';

/** A value after JSON.stringify: dates become ISO strings, 64-bit counters decimal strings. */
export type Json<T> = T extends Date | bigint
  ? string
  : T extends readonly (infer U)[]
    ? Json<U>[]
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

export interface ErrorBody {
  error: { code: ErrorCode; message: string; field?: string };
}

export type AccountView = ReturnType<typeof accountView>;
export interface MeResponse {
  account: AccountView;
  /** The account still has the password generated at the first start: ask for a new one. */
  mustChangePassword: boolean;
}
/** GET /api/auth/session: like MeResponse, with `account: null` when there is no session. */
export interface SessionResponse {
  account: AccountView | null;
  mustChangePassword: boolean;
}
export interface LoginResponse extends MeResponse {
  token: string;
}

export type LicenseView = Json<License>;
export type MappingView = Json<Mapping>;
export type UserView = Json<User>;
export type PoolRangeView = Json<PoolRange>;
export type PortGroupView = Json<PortGroup>;
export type PortGroupDetail = PortGroupView & { assignments: Json<Assignment>[] };
export type SecurityGroupView = Json<SecurityGroup>;
export type SecurityRuleView = Json<SecurityRule>;
export type SecurityGroupDetail = SecurityGroupView & { rules: SecurityRuleView[] };
export type ConnectionView = Json<ClientConnection>;
export type LoginAttemptView = Json<LoginAttempt>;
export type ServerInfoView = Json<ServerInfo>;
export type SummaryView = Json<Summary>;
/** A domain with its certificate's metadata (never its key). */
export type DomainView = Json<Domain>;
export type Granularity = 'minute' | 'hour' | 'day' | 'month';
export interface TrafficView {
  granularity: Granularity;
  items: { bucketStart: string; bytesIn: string; bytesOut: string }[];
}

export type NewLicenseRequest = z.input<typeof NewLicenseBody>;
export type LicensePatchRequest = z.input<typeof LicensePatchBody>;
export type NewMappingRequest = z.input<typeof NewMappingBody>;
export type MappingPatchRequest = z.input<typeof MappingPatchBody>;
export type NewUserRequest = z.input<typeof NewUserBody>;
export type UserPatchRequest = z.input<typeof UserPatchBody>;
export type PoolRangeRequest = z.input<typeof RangeBody>;
export type PortGroupRequest = z.input<typeof PortGroupBody>;
export type AssignmentRequest = z.input<typeof AssignmentBody>;
export type SecurityGroupRequest = z.input<typeof SecurityGroupBody>;
export type SecurityRuleRequest = z.input<typeof RuleBody>;
export type NewDomainRequest = z.input<typeof NewDomainBody>;
export type DomainPatchRequest = z.input<typeof DomainPatchBody>;
