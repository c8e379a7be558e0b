/**
 * The signed-in admin token (sessionStorage: gone when the tab closes, never in a URL or
 * a cookie) and the playground's API key (memory only: gone on reload).
 */
const TOKEN_KEY = "darkroom.console.admin-token";

type Listener = () => void;
const listeners = new Set<Listener>();
let signOutReason: string | null = null;
let playgroundKey: string | null = null;

export function onSessionChange(fn: Listener): () => void {
  listeners.add(fn);
  return () => listeners.delete(fn);
}
const changed = () => listeners.forEach((fn) => fn());

export function adminToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function signIn(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
  signOutReason = null;
  changed();
}

export function signOut(reason: string | null = null): void {
  sessionStorage.removeItem(TOKEN_KEY);
  playgroundKey = null;
  signOutReason = reason;
  changed();
}

/** Why the last sign-out happened (a refused token), for the login page. */
export const lastSignOutReason = (): string | null => signOutReason;

export const getPlaygroundKey = (): string | null => playgroundKey;

export function setPlaygroundKey(key: string | null): void {
  playgroundKey = key;
  changed();
}
