/** Accounts: list and create (GET/POST /admin/v1/accounts). */
import { useState } from "preact/hooks";
import { adminApi, HttpError, query } from "../api";
import { Badge, Field, LoadError, Notice, TableWrap, useLoad } from "../components/ui";
import { creditsText, dateTime, errorText } from "../format";
import { go, href } from "../route";
import type { Account, List } from "../types";

export function Accounts() {
  const [cursor, setCursor] = useState<string | null>(null);
  const list = useLoad(
    () => adminApi<List<Account>>(`/accounts${query({ page_size: 50, cursor })}`),
    [cursor],
  );
  const [name, setName] = useState("");
  const [group, setGroup] = useState("default");
  const [credits, setCredits] = useState("");
  const [problem, setProblem] = useState<{ param?: string; text: string } | null>(null);

  async function create(e: Event) {
    e.preventDefault();
    setProblem(null);
    try {
      const a = await adminApi<Account>("/accounts", {
        body: { name: name.trim(), group, ...(credits.trim() ? { credits: credits.trim() } : {}) },
      });
      go("accounts", a.id);
    } catch (err) {
      setProblem({ param: err instanceof HttpError ? err.param : undefined, text: errorText(err) });
    }
  }

  return (
    <>
      <h1>Accounts &amp; keys</h1>
      <LoadError error={list.error} what="Accounts" />
      {list.data && (
        <TableWrap label="Accounts">
          <table>
            <thead>
              <tr>
                <th scope="col">Account</th>
                <th scope="col">Group</th>
                <th scope="col">Available</th>
                <th scope="col">Held</th>
                <th scope="col">Used</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {list.data.data.map((a) => (
                <tr key={a.id}>
                  <td>
                    <a href={href("accounts", a.id)}>{a.name}</a> <span class="muted">{a.id}</span>
                    {a.disabled && (
                      <>
                        {" "}
                        <Badge tone="bad">disabled</Badge>
                      </>
                    )}
                  </td>
                  <td>{a.group}</td>
                  <td>{creditsText(a.available)}</td>
                  <td>{creditsText(a.held)}</td>
                  <td>{creditsText(a.used)}</td>
                  <td>{dateTime(a.created)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
      <div class="row">
        {cursor && (
          <button type="button" class="secondary" onClick={() => setCursor(null)}>
            First page
          </button>
        )}
        {list.data?.next_cursor && (
          <button
            type="button"
            class="secondary"
            onClick={() => setCursor(list.data!.next_cursor!)}
          >
            Next page
          </button>
        )}
      </div>
      <form class="card" onSubmit={create} aria-labelledby="new-account">
        <h2 id="new-account">New account</h2>
        <Field
          label="Name"
          id="acct-name"
          hint="Letters, digits and . _ @ -"
          problem={problem?.param === "name" ? problem.text : null}
        >
          <input
            id="acct-name"
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
            required
            maxLength={100}
          />
        </Field>
        <Field
          label="Group"
          id="acct-group"
          problem={problem?.param === "group" ? problem.text : null}
        >
          <input
            id="acct-group"
            value={group}
            onInput={(e) => setGroup(e.currentTarget.value)}
            required
          />
        </Field>
        <Field label="Starting credits" id="acct-credits" hint="Optional; a decimal number">
          <input
            id="acct-credits"
            inputMode="decimal"
            value={credits}
            onInput={(e) => setCredits(e.currentTarget.value)}
          />
        </Field>
        {problem && !["name", "group"].includes(problem.param ?? "") && (
          <Notice kind="error">{problem.text}</Notice>
        )}
        <button type="submit">Create account</button>
      </form>
    </>
  );
}
