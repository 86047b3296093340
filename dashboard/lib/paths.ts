// The dashboard's own URLs. Pages are static files, so ids travel in the query string.

export const BASE_PATH = process.env.NEXT_PUBLIC_BASE_PATH ?? "";

export const projectHref = (id: string) => `/project/?id=${encodeURIComponent(id)}`;
export const serviceHref = (id: string) => `/service/?id=${encodeURIComponent(id)}`;
export const deploymentHref = (id: string) => `/deployment/?id=${encodeURIComponent(id)}`;
export const serviceVariablesHref = (id: string) => `/service/variables/?id=${encodeURIComponent(id)}`;
export const serviceSettingsHref = (id: string) => `/service/settings/?id=${encodeURIComponent(id)}`;
export const metricsHref = (projectId: string) => `/project/metrics/?id=${encodeURIComponent(projectId)}`;

/** Where to go after signing in: only a page of this dashboard (never another site). */
export function safeNext(next: string | null): string {
  if (next && next.startsWith(`${BASE_PATH}/`) && !next.startsWith("//")) return next;
  return `${BASE_PATH}/`;
}

/** Sends the browser to sign-in, remembering this page so sign-in returns to it. */
export function goToSignIn(): void {
  const here = window.location.pathname + window.location.search;
  window.location.assign(`${BASE_PATH}/signin/?next=${encodeURIComponent(here)}`);
}
