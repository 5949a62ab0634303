/**
 * The UI's HTTP client: JSON under /api with the signed-in person's bearer token. Errors come
 * back as ApiError with the status and, for 400s, the field issues the API names.
 */
const TOKEN_KEY = 'gaplab.token';

export function getToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

/**
 * A token handed over in the address (`?token=…`, as the demo prints it) is moved to
 * sessionStorage and removed from the address bar and history at once.
 */
export function takeTokenFromUrl(): void {
  const url = new URL(window.location.href);
  const token = url.searchParams.get('token');
  if (!token) return;
  setToken(token);
  url.searchParams.delete('token');
  window.history.replaceState(null, '', url.pathname + url.search + url.hash);
}

export function setToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}

export interface FieldIssue {
  path: string;
  message: string;
}

/** Thrown when the API answers with a non-2xx status; `issues` lists the fields a 400 names. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly issues: FieldIssue[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

type Listener = () => void;
const unauthorizedListeners = new Set<Listener>();
/** Called when the API rejects the token (expired or revoked): the app signs out. */
export function onUnauthorized(fn: Listener): () => void {
  unauthorizedListeners.add(fn);
  return () => unauthorizedListeners.delete(fn);
}

function normalizeIssues(raw: unknown): FieldIssue[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((i: unknown) => {
    if (!i || typeof i !== 'object') return [];
    const o = i as { path?: unknown; message?: unknown };
    const path = Array.isArray(o.path)
      ? o.path.join('.')
      : typeof o.path === 'string'
        ? o.path
        : '';
    return [
      { path, message: typeof o.message === 'string' ? o.message : JSON.stringify(o.message) },
    ];
  });
}

export async function api<T>(
  path: string,
  init: { method?: string; body?: unknown; token?: string | null; signal?: AbortSignal } = {},
): Promise<T> {
  const token = init.token === undefined ? getToken() : init.token;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`/api${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers,
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
    ...(init.signal ? { signal: init.signal } : {}),
  });
  const text = await res.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    const o = (data && typeof data === 'object' ? data : {}) as {
      message?: unknown;
      error?: unknown;
      issues?: unknown;
    };
    const message =
      typeof o.message === 'string'
        ? o.message
        : typeof o.error === 'string'
          ? o.error
          : typeof data === 'string' && data
            ? data
            : res.statusText;
    if (res.status === 401 && init.token === undefined)
      for (const fn of unauthorizedListeners) fn();
    throw new ApiError(res.status, message, normalizeIssues(o.issues));
  }
  return data as T;
}

/** URL of a campaign's server-sent event stream (EventSource cannot send headers). */
export function eventsUrl(campaignId: string): string {
  const token = getToken() ?? '';
  return `/api/campaigns/${encodeURIComponent(campaignId)}/events?token=${encodeURIComponent(token)}`;
}

export const enc = encodeURIComponent;
