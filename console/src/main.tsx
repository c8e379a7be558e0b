/** The console's shell: sign-in, navigation and the page for the current route. */
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { adminToken, onSessionChange, signOut } from "./session";
import { href, useRoute } from "./route";
import { Login } from "./pages/login";
import { Overview } from "./pages/overview";
import { Tasks } from "./pages/tasks";
import { TaskDetail } from "./pages/task-detail";
import { Accounts } from "./pages/accounts";
import { AccountDetail } from "./pages/account-detail";
import { Channels } from "./pages/channels";
import { Webhooks } from "./pages/webhooks";
import { Playground } from "./pages/playground";

const PAGES: Array<{ page: string; title: string }> = [
  { page: "overview", title: "Overview" },
  { page: "tasks", title: "Tasks" },
  { page: "accounts", title: "Accounts & keys" },
  { page: "channels", title: "Channels" },
  { page: "webhooks", title: "Webhooks" },
  { page: "playground", title: "Playground" },
];

function useSession(): string | null {
  const [token, setToken] = useState(adminToken);
  useEffect(() => onSessionChange(() => setToken(adminToken())), []);
  return token;
}

function Page(props: { page: string; id: string | null }) {
  switch (props.page) {
    case "overview":
      return <Overview />;
    case "tasks":
      return props.id ? <TaskDetail id={props.id} /> : <Tasks />;
    case "accounts":
      return props.id ? <AccountDetail id={props.id} /> : <Accounts />;
    case "channels":
      return <Channels />;
    case "webhooks":
      return <Webhooks />;
    case "playground":
      return <Playground />;
    default:
      return <p>No such page.</p>;
  }
}

function App() {
  const token = useSession();
  const route = useRoute();
  const current = PAGES.find((p) => p.page === route.page);
  useEffect(() => {
    document.title = `${current?.title ?? "Darkroom"} · Darkroom console`;
    // After a page change focus moves to the page, so keyboard and screen-reader users land
    // there (the sign-in form focuses its own field).
    if (token) document.getElementById("main")?.focus({ preventScroll: true });
  }, [route.page, route.id, current, token]);
  if (!token) return <Login />;
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => (e.preventDefault(), document.getElementById("main")?.focus())}
      >
        Skip to content
      </a>
      <header class="top">
        <span class="brand">Darkroom</span>
        <nav aria-label="Console">
          <ul>
            {PAGES.map((p) => (
              <li key={p.page}>
                <a href={href(p.page)} aria-current={p.page === route.page ? "page" : undefined}>
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <button type="button" class="link" onClick={() => signOut()}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Page page={route.page} id={route.id} />
      </main>
      <footer class="foot">
        <a href="/docs">API docs</a> · <a href="/openapi.json">OpenAPI</a> ·{" "}
        <a href="/healthz">Health</a>
      </footer>
    </>
  );
}

const root = document.getElementById("app")!;
root.textContent = ""; // the "Loading…" line shown before the script ran
render(<App />, root);
