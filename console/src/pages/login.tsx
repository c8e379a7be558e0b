/** Sign-in with the admin token (DARKROOM_ADMIN_TOKEN); it is checked before it is kept. */
import { useState } from "preact/hooks";
import { checkAdminToken, HttpError } from "../api";
import { errorText } from "../format";
import { lastSignOutReason, signIn } from "../session";
import { Notice } from "../components/ui";

export function Login() {
  const [token, setToken] = useState("");
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(lastSignOutReason());

  async function submit(e: Event) {
    e.preventDefault();
    const t = token.trim();
    if (!t) return setProblem("Enter the admin token.");
    setBusy(true);
    setProblem(null);
    try {
      await checkAdminToken(t);
      setToken("");
      signIn(t);
    } catch (err) {
      setProblem(
        err instanceof HttpError && (err.status === 401 || err.status === 403)
          ? "That admin token was refused."
          : err instanceof HttpError && err.status === 429
            ? "Too many wrong tokens from this address; wait a minute."
            : errorText(err),
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="login" id="main" tabIndex={-1}>
      <h1>Darkroom console</h1>
      <form onSubmit={submit} class="card" aria-describedby="login-note">
        <div class="field">
          <label for="admin-token">Admin token</label>
          <input
            id="admin-token"
            type="password"
            autoComplete="current-password"
            value={token}
            onInput={(e) => setToken(e.currentTarget.value)}
            required
            autoFocus
          />
        </div>
        <p class="hint" id="login-note">
          The token set in <code>DARKROOM_ADMIN_TOKEN</code>. It is kept in this tab only and sent
          as a header, never in a link.
        </p>
        {problem && <Notice kind="error">{problem}</Notice>}
        <button type="submit" disabled={busy}>
          {busy ? "Checking…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
