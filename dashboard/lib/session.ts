// How the dashboard holds credentials (docs/decisions/0041): in this tab's sessionStorage only, never
// a cookie (the API reads a bearer header, so there is no CSRF surface) and never localStorage (a
// closed tab forgets them). A person's session has a refresh token; an API token has none.

export type Session = { accessToken: string; refreshToken?: string };

const KEY = "railyard.session";

export function getSession(): Session | null {
  try {
    const raw = window.sessionStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null; // storage disabled or a corrupt value: signed out
  }
}

export function saveSession(session: Session): void {
  window.sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession(): void {
  window.sessionStorage.removeItem(KEY);
}
