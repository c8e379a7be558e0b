/**
 * Turns arbitrary user text into Pango markup the renderer can always draw. Pango's
 * markup parser (GMarkup) refuses NUL outright, and XML forbids the other C0 controls,
 * lone surrogates and the noncharacters U+FFFE/U+FFFF; a prompt carrying any of them
 * must still render. Pure string work.
 */

// Tab, newline and carriage return read as word breaks: one space per run.
const LINE_BREAKS = /[\t\n\r]+/g;
// C0 controls, DEL and C1 controls draw nothing useful: dropped.
const CONTROLS = /\p{Cc}/gu;
// With the u flag, \p{Cs} matches only surrogates that are not part of a pair.
const LONE_SURROGATE = /\p{Cs}/gu;
// U+FDD0..U+FDEF and the last two code points of every plane (U+FFFE, U+1FFFF...).
const NONCHARACTER = /\p{Noncharacter_Code_Point}/gu;

/** The text with everything Pango cannot take removed (lone surrogates become U+FFFD). */
export function drawableText(s: string): string {
  return s
    .replace(LINE_BREAKS, " ")
    .replace(CONTROLS, "")
    .replace(LONE_SURROGATE, "\uFFFD")
    .replace(NONCHARACTER, "");
}

/** Escapes drawable text for use inside a Pango markup element. */
export function escapeMarkup(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** At most `max` characters (code points) of drawable text, with an ellipsis when cut. */
export function shownText(s: string, max: number): string {
  const chars = [...drawableText(s)];
  return chars.length > max ? chars.slice(0, max).join("") + "…" : chars.join("");
}
