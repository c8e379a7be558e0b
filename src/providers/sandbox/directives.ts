/**
 * Test and demo directives in the prompt, so every failure path is reachable end to
 * end without an upstream account: `[sandbox:fail=<code>]`, `[sandbox:generate=<k>]`,
 * `[sandbox:delay=<ms>]`. Unknown or malformed directives are ignored.
 */
import { isFailureCode } from "../../core/failure.js";
import type { FailureCode } from "../../core/types.js";

export interface SandboxDirectives {
  fail?: FailureCode;
  generate?: number;
  delayMs?: number;
}

export function parseSandboxDirectives(prompt: string): SandboxDirectives {
  const out: SandboxDirectives = {};
  for (const m of prompt.matchAll(/\[sandbox:([a-z]+)=([a-z0-9_]+)\]/g)) {
    const [, name, value] = m as unknown as [string, string, string];
    if (name === "fail" && isFailureCode(value)) out.fail = value;
    else if (name === "generate" && /^\d{1,2}$/.test(value)) out.generate = Number(value);
    else if (name === "delay" && /^\d{1,6}$/.test(value) && Number(value) <= 600_000)
      out.delayMs = Number(value);
  }
  return out;
}
