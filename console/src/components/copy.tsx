/**
 * A Copy button. The clipboard API exists only in secure contexts (https, or localhost);
 * elsewhere the text is selected in `fallbackId`'s field or block so the operator can
 * copy it by hand.
 */
import { useState } from "preact/hooks";

export function CopyButton(props: {
  text: string;
  fallbackId: string;
  label?: string;
  class?: string;
}) {
  const [said, setSaid] = useState<string | null>(null);
  async function copy() {
    try {
      if (!navigator.clipboard) throw new Error("no clipboard");
      await navigator.clipboard.writeText(props.text);
      setSaid("Copied.");
    } catch {
      const el = document.getElementById(props.fallbackId);
      if (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement) el.select();
      else if (el) getSelection()?.selectAllChildren(el);
      setSaid("Selected: press Ctrl+C (⌘C) to copy.");
    }
  }
  return (
    <>
      <button type="button" class={props.class} onClick={copy}>
        {props.label ?? "Copy"}
      </button>
      <span class="muted" role="status">
        {said}
      </span>
    </>
  );
}
