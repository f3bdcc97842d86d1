// Two shapes every page repeats: a form that submits to the API and shows its errors (the one
// for a field next to that field, any other with its code), and a paged list that reloads.

import { computed, onBeforeUnmount, onMounted, type Ref, ref, shallowRef } from 'vue';
import { ApiError } from './api/client.ts';
import type { Page } from './api/types.ts';

function asApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new ApiError(0, 'MUON_ERR_CONSOLE', (error as Error).message);
}

export function useAction() {
  const pending = ref(false);
  const error = shallowRef<ApiError | null>(null);
  /** Runs `work`; returns true when it succeeded (its error is kept in `error` otherwise). */
  async function run(work: () => Promise<unknown>): Promise<boolean> {
    pending.value = true;
    error.value = null;
    try {
      await work();
      return true;
    } catch (caught) {
      error.value = asApiError(caught);
      return false;
    } finally {
      pending.value = false;
    }
  }
  /** The error's message if it concerns `field` (shown beside it, without the "field: " prefix). */
  const fieldError = (field: string) =>
    error.value?.field === field ? error.value.message.replace(`${field}: `, '') : undefined;
  /** The error if it belongs to no field of the form (shown as a banner). */
  const formError = (fields: readonly string[]) =>
    error.value && !(error.value.field && fields.includes(error.value.field)) ? error.value : null;
  return { pending, error, run, fieldError, formError };
}

/**
 * A paged list (the page calls reload() when it is ready to load). With `refreshMs` it reloads
 * on that period while the page is shown (live state such as a client going online).
 */
export function useList<T>(
  load: (page: { limit: number; offset: number }) => Promise<Page<T>>,
  options: { limit?: number; refreshMs?: number } = {},
) {
  const limit = options.limit ?? 25;
  const items: Ref<T[]> = ref([]);
  const total = ref(0);
  const offset = ref(0);
  const loaded = ref(false);
  const action = useAction();
  async function reload(): Promise<void> {
    await action.run(async () => {
      const page = await load({ limit, offset: offset.value });
      items.value = page.items;
      total.value = page.total;
      loaded.value = true;
    });
  }
  async function go(to: number): Promise<void> {
    offset.value = Math.max(0, to);
    await reload();
  }
  const pages = computed(() => ({ limit, offset: offset.value, total: total.value }));
  let timer: ReturnType<typeof setInterval> | undefined;
  onMounted(() => {
    if (options.refreshMs) timer = setInterval(() => void reload(), options.refreshMs);
  });
  onBeforeUnmount(() => clearInterval(timer));
  return { items, total, offset, loaded, reload, go, pages, error: action.error, pending: action.pending };
}

/** An optional number from a form input ('' means none). */
export function numberOrNull(value: string | number | null | undefined): number | null {
  if (value === '' || value === null || value === undefined) return null;
  return Number(value);
}

/**
 * A list page's form and row actions: which row the form edits ('new' for a new one), and
 * actions that reload the list once they succeed (their error is kept in `action.error`).
 */
export function useListActions<T>(list: { reload(): Promise<void> }) {
  const editing = shallowRef<T | 'new' | null>(null);
  const action = useAction();
  async function saved(): Promise<void> {
    editing.value = null;
    await list.reload();
  }
  async function act(work: () => Promise<unknown>): Promise<void> {
    if (await action.run(work)) await list.reload();
  }
  return { editing, action, saved, act };
}

interface Limits {
  uploadLimit: number | null;
  downloadLimit: number | null;
  maxConnections: number | null;
}
const KIB = 1024;

/** A license's or mapping's limits as LimitFields edits them: KiB/s, '' for unlimited. */
export function limitInputs(limits: Limits | undefined) {
  const kib = (bytes: number | null | undefined) => (bytes ? bytes / KIB : '');
  return {
    upload: kib(limits?.uploadLimit) as number | string,
    download: kib(limits?.downloadLimit) as number | string,
    maxConnections: (limits?.maxConnections ?? '') as number | string,
  };
}

/** The limits as the API takes them: bytes per second, null for unlimited. */
export function limitsOf(inputs: ReturnType<typeof limitInputs>): Limits {
  const bytes = (kib: number | string) => {
    const n = numberOrNull(kib);
    return n === null ? null : Math.round(n * KIB);
  };
  return {
    uploadLimit: bytes(inputs.upload),
    downloadLimit: bytes(inputs.download),
    maxConnections: numberOrNull(inputs.maxConnections),
  };
}
