/** Small shared pieces: loading state, notices, the "not available" state, badges. */
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { HttpError, isMissingEndpoint } from "../api";
import { errorText } from "../format";

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` now and whenever `deps` change (and every `refreshMs`, when given). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], refreshMs?: number): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({
    data: null,
    error: null,
    loading: true,
  });
  const generation = useRef(0);
  const run = useCallback(() => {
    const mine = ++generation.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => mine === generation.current && setState({ data, error: null, loading: false }),
      (error: unknown) =>
        mine === generation.current && setState((s) => ({ data: s.data, error, loading: false })),
    );
  }, deps);
  useEffect(() => {
    run();
    if (!refreshMs) return;
    const timer = setInterval(run, refreshMs);
    return () => clearInterval(timer);
  }, [run, refreshMs]);
  return { ...state, reload: run };
}

export function Notice(props: { kind?: "info" | "error" | "ok"; children: ComponentChildren }) {
  const kind = props.kind ?? "info";
  return (
    <div class={`notice notice-${kind}`} role={kind === "error" ? "alert" : "status"}>
      {props.children}
    </div>
  );
}

export function NotAvailable(props: { what: string }) {
  return (
    <Notice>
      <strong>Not available on this server.</strong> {props.what} needs an admin endpoint this
      Darkroom does not have yet; the rest of the console works without it.
    </Notice>
  );
}

/** The error of a load or an action, or the "not available" state for a missing endpoint. */
export function LoadError(props: { error: unknown; what: string }) {
  if (!props.error) return null;
  if (isMissingEndpoint(props.error)) return <NotAvailable what={props.what} />;
  const code = props.error instanceof HttpError ? ` (${props.error.code})` : "";
  return (
    <Notice kind="error">
      {errorText(props.error)}
      {code}
    </Notice>
  );
}

export function Badge(props: {
  tone: "ok" | "bad" | "warn" | "muted" | "info";
  children: ComponentChildren;
}) {
  return <span class={`badge badge-${props.tone}`}>{props.children}</span>;
}

export function StatusBadge(props: { status: string }) {
  const tone =
    props.status === "completed" || props.status === "delivered" || props.status === "closed"
      ? "ok"
      : props.status === "failed" || props.status === "open"
        ? "bad"
        : props.status === "processing" || props.status === "half_open"
          ? "warn"
          : "muted";
  return <Badge tone={tone}>{props.status.replace("_", " ")}</Badge>;
}

/** A wide table that scrolls sideways on a phone instead of breaking the page. */
export function TableWrap(props: { label: string; children: ComponentChildren }) {
  return (
    <div class="table-wrap" role="region" aria-label={props.label} tabIndex={0}>
      {props.children}
    </div>
  );
}

export function Field(props: {
  label: string;
  id: string;
  hint?: ComponentChildren;
  problem?: string | null;
  children: ComponentChildren;
}) {
  return (
    <div class={`field${props.problem ? " field-bad" : ""}`}>
      <label for={props.id}>{props.label}</label>
      {props.children}
      {props.hint && (
        <small class="hint" id={`${props.id}-hint`}>
          {props.hint}
        </small>
      )}
      {props.problem && (
        <small class="problem" id={`${props.id}-problem`} role="alert">
          {props.problem}
        </small>
      )}
    </div>
  );
}

/** What an input's aria-describedby should name for a Field with a hint and/or problem. */
export const describedBy = (id: string, hint: boolean, problem: string | null | undefined) =>
  [hint ? `${id}-hint` : null, problem ? `${id}-problem` : null].filter(Boolean).join(" ") ||
  undefined;
