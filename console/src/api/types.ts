// The admin API's own types (src/admin/api-types.ts): the console compiles against them.
export type * from '../../../src/admin/api-types.ts';
