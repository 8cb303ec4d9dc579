/** The operator API over fetch: the session (token, tenant, user) and problem+json errors as exceptions. */
import type { Tenant, User } from './types';

export interface Session { token: string; tenant: Tenant; user: User }

/** An API error: the problem's detail and the fields at fault, ready to show next to a form. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, detail: string, readonly fields: { field: string; reason: string }[] = []) {
    super(detail);
  }
}

const KEY = 'followme.session';

export function loadSession(key = KEY): Session | undefined {
  try {
    const raw = localStorage.getItem(key);
    return raw ? (JSON.parse(raw) as Session) : undefined;
  } catch (err) {
    console.warn('ignoring an unreadable saved session', err);
    return undefined;
  }
}

export function saveSession(session: Session | undefined, key = KEY): void {
  if (session) localStorage.setItem(key, JSON.stringify(session));
  else localStorage.removeItem(key);
}

/** Calls /api/v1{path} with the bearer token; resolves with parsed JSON (undefined for 204). */
export async function request<T>(token: string | undefined, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  const data = text && (response.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text;
  if (!response.ok) {
    const problem = typeof data === 'object' && data ? (data as { code?: string; detail?: string; errors?: { field: string; reason: string }[] }) : {};
    throw new ApiError(response.status, problem.code ?? 'error', problem.detail ?? `${method} ${path} answered ${response.status}`, problem.errors);
  }
  return data as T;
}

export async function login(tenant: string, email: string, password: string): Promise<Session> {
  return request<Session>(undefined, 'POST', '/auth/login', { tenant, email, password });
}

/** A client bound to one session's tenant: `t('/fences')` is /tenants/{id}/fences. */
export function tenantApi(session: Session) {
  const base = `/tenants/${session.tenant.id}`;
  return {
    get: <T>(path: string) => request<T>(session.token, 'GET', base + path),
    post: <T>(path: string, body?: unknown) => request<T>(session.token, 'POST', base + path, body ?? {}),
    patch: <T>(path: string, body: unknown) => request<T>(session.token, 'PATCH', base + path, body),
    put: <T>(path: string, body: unknown) => request<T>(session.token, 'PUT', base + path, body),
    del: (path: string) => request<void>(session.token, 'DELETE', base + path),
    /** A URL that works without headers (downloads, EventSource). */
    url: (path: string, query: Record<string, string> = {}) => `/api/v1${base}${path}?${new URLSearchParams({ ...query, access_token: session.token })}`,
  };
}
export type TenantApi = ReturnType<typeof tenantApi>;

/** The front's runtime settings from the server (FOLLOWME_MAP_STYLE_URL). */
export async function loadWebConfig(): Promise<{ mapStyleUrl: string | null }> {
  try {
    const response = await fetch('/config.json');
    if (response.ok) return (await response.json()) as { mapStyleUrl: string | null };
    console.warn(`/config.json answered ${response.status}; using the bundled base map`);
  } catch (err) {
    console.warn('could not load /config.json; using the bundled base map', err);
  }
  return { mapStyleUrl: null };
}

/** White-label settings (GET /api/v1/branding): the tenant's own on its custom domain, the platform's otherwise. */
export interface Branding { productName: string; logoUrl: string | null; primaryColor: string; accentColor: string; appName: string; appIconUrl: string | null }

export async function loadBranding(session?: Session): Promise<{ tenant: { slug: string; name: string } | null; branding: Branding } | undefined> {
  try {
    const host = await request<{ tenant: { slug: string; name: string } | null; branding: Branding }>(undefined, 'GET', '/branding');
    if (session) {
      const own = await request<Branding>(session.token, 'GET', `/tenants/${session.tenant.id}/branding`).catch((err: unknown) => { console.warn('no tenant branding', err); return undefined; });
      if (own) return { ...host, branding: own };
    }
    return host;
  } catch (err) {
    console.warn('no branding; using the defaults', err);
    return undefined;
  }
}

/** Applies a tenant's colours to the page (CSS variables of lib/styles.css). */
export function applyBranding(b: Branding | undefined): void {
  if (!b) return;
  const valid = (c: string) => /^#[0-9a-f]{6}$/i.test(c);
  if (valid(b.primaryColor)) document.documentElement.style.setProperty('--brand', b.primaryColor);
  if (valid(b.accentColor)) document.documentElement.style.setProperty('--accent', b.accentColor);
}
