/**
 * The playground: every field of POST /v1/images/generations with the contract's checks
 * live, submitted with an API key held in memory only, followed by polling
 * GET /v1/tasks/{id}, with the results in a gallery and the equivalent curl command.
 */
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { adminApi, HttpError, publicApi } from "../api";
import { CopyButton } from "../components/copy";
import { describedBy, Field, Notice, StatusBadge, useLoad } from "../components/ui";
import { creditsText, errorText } from "../format";
import { href } from "../route";
import { getPlaygroundKey, onSessionChange, setPlaygroundKey } from "../session";
import type { CatalogueModel, List, PublicTask } from "../types";
import {
  check,
  curlCommand,
  defaultForm,
  modelSpec,
  requestBody,
  SIZE_CUSTOM,
  sizeChoices,
  type PlaygroundForm,
} from "../playground/request";
import { ReferenceFilesField, useReferenceFiles } from "../playground/reference-files";

const POLL_MS = 1000;
const TERMINAL = new Set(["completed", "failed"]);

interface Run {
  id: string;
  prompt: string;
  task: PublicTask;
  pollError: string | null;
}

function usePlaygroundKey(): string | null {
  const [key, setKey] = useState(getPlaygroundKey);
  useEffect(() => onSessionChange(() => setKey(getPlaygroundKey())), []);
  return key;
}

export function Playground() {
  const models = useLoad(() => adminApi<List<CatalogueModel>>("/models"), []);
  const key = usePlaygroundKey();
  const [pasted, setPasted] = useState("");
  const [form, setForm] = useState<PlaygroundForm>(() => defaultForm(""));
  const [submitError, setSubmitError] = useState<HttpError | Error | null>(null);
  const [busy, setBusy] = useState(false);
  const [runs, setRuns] = useState<Run[]>([]);
  const [touched, setTouched] = useState(false);
  const timers = useRef(new Set<ReturnType<typeof setTimeout>>());

  useEffect(() => {
    const first = models.data?.data[0]?.id;
    // The model's defaults, keeping what was typed while the models were loading.
    if (first)
      setForm((f) =>
        f.model
          ? f
          : {
              ...defaultForm(first),
              prompt: f.prompt,
              imageUrls: f.imageUrls,
              callbackUrl: f.callbackUrl,
            },
      );
  }, [models.data]);
  useEffect(() => () => timers.current.forEach(clearTimeout), []);

  const refs = useReferenceFiles(key);
  const uploadedKey = refs.urls.join("\n");
  const spec = modelSpec(form.model);
  const checked = useMemo(() => check(form, refs.urls), [form, uploadedKey]);
  const body = useMemo(() => requestBody(form, refs.urls), [form, uploadedKey]);
  const valid = Object.keys(checked.problems).length === 0;
  const shown = (k: keyof PlaygroundForm) =>
    touched || k !== "prompt" ? checked.problems[k] : undefined;

  const set = (k: keyof PlaygroundForm) => (e: Event) => {
    const value = (e.currentTarget as HTMLInputElement).value;
    setForm((f) =>
      k === "model" ? { ...defaultForm(value), prompt: f.prompt } : { ...f, [k]: value },
    );
  };

  function poll(id: string, apiKey: string) {
    const timer = setTimeout(async () => {
      timers.current.delete(timer);
      try {
        const task = await publicApi<PublicTask>(`/tasks/${encodeURIComponent(id)}`, apiKey);
        setRuns((rs) => rs.map((r) => (r.id === id ? { ...r, task, pollError: null } : r)));
        if (!TERMINAL.has(task.status)) poll(id, apiKey);
      } catch (err) {
        setRuns((rs) => rs.map((r) => (r.id === id ? { ...r, pollError: errorText(err) } : r)));
        poll(id, apiKey);
      }
    }, POLL_MS);
    timers.current.add(timer);
  }

  async function submit(e: Event) {
    e.preventDefault();
    setTouched(true);
    setSubmitError(null);
    if (!key) return setSubmitError(new Error("Set an API key first."));
    if (!valid || refs.uploading) return;
    setBusy(true);
    try {
      const task = await publicApi<PublicTask>("/images/generations", key, { body });
      setRuns((rs) => [{ id: task.id, prompt: form.prompt, task, pollError: null }, ...rs]);
      poll(task.id, key);
    } catch (err) {
      setSubmitError(err instanceof Error ? err : new Error(String(err)));
    } finally {
      setBusy(false);
    }
  }

  const curl = curlCommand(location.origin, body);
  const typedCount = form.imageUrls.split(/\s+/).filter(Boolean).length;
  const urlsCount = typedCount + refs.urls.length;
  const maxRefs = spec?.maxReferenceImages ?? 14;
  // Files still uploading hold their place, so a quick second drop cannot overshoot.
  const room = maxRefs - typedCount - refs.items.filter((x) => x.status !== "refused").length;

  return (
    <>
      <h1>Playground</h1>
      <section class="card" aria-labelledby="key-title">
        <h2 id="key-title">API key</h2>
        {key ? (
          <p>
            Using key <code>{key.slice(0, 10)}…</code> (held in this page's memory only; a reload
            forgets it).{" "}
            <button type="button" class="secondary small" onClick={() => setPlaygroundKey(null)}>
              Forget key
            </button>
          </p>
        ) : (
          <form
            class="inline-form"
            onSubmit={(e) => {
              e.preventDefault();
              if (pasted.trim()) setPlaygroundKey(pasted.trim());
              setPasted("");
            }}
          >
            <div class="field">
              <label for="pg-key">Paste an API key</label>
              <input
                id="pg-key"
                type="password"
                autoComplete="off"
                spellcheck={false}
                value={pasted}
                onInput={(e) => setPasted(e.currentTarget.value)}
              />
            </div>
            <button type="submit">Use key</button>
            <p class="hint">
              Or create one under <a href={href("accounts")}>Accounts &amp; keys</a> and choose “Use
              in playground”.
            </p>
          </form>
        )}
      </section>

      <form class="card playground" onSubmit={submit} aria-labelledby="req-title" noValidate>
        <h2 id="req-title">Request</h2>
        <div class="grid">
          <Field label="Model" id="pg-model" problem={shown("model")}>
            <select id="pg-model" value={form.model} onChange={set("model")}>
              {models.data?.data.map((m) => (
                <option key={m.id} value={m.id}>
                  {m.id} ({creditsText(m.price)} credits per image)
                </option>
              ))}
            </select>
          </Field>
          <Field
            label="Size"
            id="pg-size"
            problem={shown("size")}
            hint={checked.pixels ? `${checked.pixels[0]} × ${checked.pixels[1]} pixels` : undefined}
          >
            <select
              id="pg-size"
              value={form.size}
              onChange={set("size")}
              aria-describedby={describedBy("pg-size", !!checked.pixels, shown("size"))}
              aria-invalid={!!shown("size")}
            >
              {sizeChoices(spec).map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
              {!spec?.sizePresets && <option value={SIZE_CUSTOM}>custom (width × height)</option>}
            </select>
          </Field>
          {form.size === SIZE_CUSTOM && (
            <>
              <Field label="Width (px)" id="pg-width">
                <input
                  id="pg-width"
                  inputMode="numeric"
                  value={form.width}
                  onInput={set("width")}
                  aria-invalid={!!shown("size")}
                />
              </Field>
              <Field label="Height (px)" id="pg-height">
                <input
                  id="pg-height"
                  inputMode="numeric"
                  value={form.height}
                  onInput={set("height")}
                  aria-invalid={!!shown("size")}
                />
              </Field>
            </>
          )}
          <Field label="Quality" id="pg-quality" problem={shown("quality")}>
            <select id="pg-quality" value={form.quality} onChange={set("quality")}>
              {(spec?.qualities ?? ["1K", "2K", "4K"]).map((q) => (
                <option key={q} value={q}>
                  {q}
                  {q === spec?.defaultQuality ? " (default)" : ""}
                </option>
              ))}
            </select>
          </Field>
          <Field
            label="Images (n)"
            id="pg-n"
            problem={shown("n")}
            hint={`1 to ${spec?.maxN ?? 15}; an upper bound`}
          >
            <input
              id="pg-n"
              type="number"
              min={1}
              max={spec?.maxN ?? 15}
              value={form.n}
              onInput={set("n")}
              aria-invalid={!!shown("n")}
              aria-describedby={describedBy("pg-n", true, shown("n"))}
            />
          </Field>
          <Field label="Prompt priority" id="pg-priority" problem={shown("promptPriority")}>
            <select id="pg-priority" value={form.promptPriority} onChange={set("promptPriority")}>
              {(spec?.promptPriorities ?? ["standard", "fast"]).map((p) => (
                <option key={p} value={p}>
                  {p}
                </option>
              ))}
            </select>
          </Field>
        </div>
        <Field
          label="Prompt"
          id="pg-prompt"
          problem={shown("prompt")}
          hint={`${[...form.prompt].length} / ${spec?.promptMaxChars ?? "?"} characters`}
        >
          <textarea
            id="pg-prompt"
            rows={4}
            value={form.prompt}
            onInput={set("prompt")}
            aria-invalid={!!shown("prompt")}
            aria-describedby={describedBy("pg-prompt", true, shown("prompt"))}
          />
        </Field>
        <Field
          label="Reference image URLs"
          id="pg-images"
          problem={shown("imageUrls")}
          hint={`One per line; ${urlsCount} of at most ${maxRefs} with the uploaded files. Fetched and checked by the worker.`}
        >
          <textarea
            id="pg-images"
            rows={2}
            value={form.imageUrls}
            onInput={set("imageUrls")}
            aria-invalid={!!shown("imageUrls")}
            aria-describedby={describedBy("pg-images", true, shown("imageUrls"))}
          />
        </Field>
        <ReferenceFilesField
          refs={refs}
          room={room}
          maxRefs={maxRefs}
          modelMaxBytes={spec?.maxReferenceBytes}
        />
        <Field
          label="Callback URL"
          id="pg-callback"
          problem={shown("callbackUrl")}
          hint="Optional; https, public host"
        >
          <input
            id="pg-callback"
            type="url"
            value={form.callbackUrl}
            onInput={set("callbackUrl")}
            aria-invalid={!!shown("callbackUrl")}
            aria-describedby={describedBy("pg-callback", true, shown("callbackUrl"))}
          />
        </Field>
        {submitError && (
          <Notice kind="error">
            {submitError instanceof HttpError ? (
              <>
                <strong>{submitError.code}</strong> (HTTP {submitError.status}
                {submitError.param ? `, ${submitError.param}` : ""}): {submitError.message}
              </>
            ) : (
              submitError.message
            )}
          </Notice>
        )}
        <button type="submit" disabled={busy || !key || refs.uploading || (touched && !valid)}>
          {busy ? "Submitting…" : refs.uploading ? "Waiting for uploads…" : "Generate"}
        </button>
        <details>
          <summary>Equivalent curl command</summary>
          <pre class="curl" id="curl" data-testid="curl">
            {curl}
          </pre>
          <CopyButton text={curl} fallbackId="curl" label="Copy command" class="secondary small" />
        </details>
      </form>

      <section aria-labelledby="runs-title" aria-live="polite">
        <h2 id="runs-title">Results</h2>
        {runs.length === 0 && <p>Nothing generated yet in this session.</p>}
        {runs.map((r) => (
          <RunView key={r.id} run={r} />
        ))}
      </section>
    </>
  );
}

function RunView(props: { run: Run }) {
  const { task } = props.run;
  return (
    <article class="card run" data-task-id={task.id} data-status={task.status}>
      <h3 class="break">
        <a href={href("tasks", task.id)}>{task.id}</a> <StatusBadge status={task.status} />
      </h3>
      <p class="muted clip">{props.run.prompt}</p>
      <label for={`progress-${task.id}`}>Progress</label>{" "}
      <progress id={`progress-${task.id}`} max={100} value={task.progress}>
        {task.progress} %
      </progress>{" "}
      {task.progress} %
      {!TERMINAL.has(task.status) && task.task_info && (
        <span class="muted"> about {task.task_info.estimated_time} s</span>
      )}
      {task.usage && (
        <p class="muted">
          Credits: {creditsText(task.usage.credits_used ?? null)} used of{" "}
          {creditsText(task.usage.credits_reserved)} reserved
        </p>
      )}
      {props.run.pollError && <Notice kind="error">Polling: {props.run.pollError}</Notice>}
      {task.error && (
        <Notice kind="error">
          <strong class="error-code">{task.error.code}</strong>: {task.error.message}
        </Notice>
      )}
      {task.results && task.results.length > 0 && (
        <ul class="gallery">
          {task.results.map((url, i) => (
            <li key={url}>
              <img
                src={url}
                alt={`Result ${i + 1} of ${task.results!.length}: ${props.run.prompt}`}
              />
              <a href={url} download={`${task.id}-${i + 1}`} class="button secondary small">
                Download image {i + 1}
              </a>
            </li>
          ))}
        </ul>
      )}
    </article>
  );
}
