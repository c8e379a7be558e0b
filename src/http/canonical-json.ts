/**
 * A canonical JSON text of a parsed JSON value (object keys sorted, no whitespace), so
 * that "the same body" for Idempotency-Key does not depend on key order.
 *
 * Iterative on purpose: a body is client-controlled and JSON.parse accepts any depth
 * (V8's parser is iterative), so a recursive walk could overflow the stack on a deeply
 * nested body — a 500 instead of an answer. The output is byte-identical to the
 * earlier recursive version, so hashes stored before this change still match.
 */

/** A piece of punctuation or a key to emit as is (values are walked). */
class Literal {
  constructor(readonly text: string) {}
}

const OPEN_ARRAY = new Literal("[");
const CLOSE_ARRAY = new Literal("]");
const OPEN_OBJECT = new Literal("{");
const CLOSE_OBJECT = new Literal("}");
const COMMA = new Literal(",");

export function canonicalJson(value: unknown): string {
  const out: string[] = [];
  // Work items are popped from the end, so each container pushes its parts in reverse.
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const item = stack.pop();
    if (item instanceof Literal) {
      out.push(item.text);
    } else if (Array.isArray(item)) {
      stack.push(CLOSE_ARRAY);
      for (let i = item.length - 1; i >= 0; i--) {
        stack.push(item[i]);
        if (i > 0) stack.push(COMMA);
      }
      stack.push(OPEN_ARRAY);
    } else if (item !== null && typeof item === "object") {
      const obj = item as Record<string, unknown>;
      const keys = Object.keys(obj).sort();
      stack.push(CLOSE_OBJECT);
      for (let i = keys.length - 1; i >= 0; i--) {
        const k = keys[i]!;
        stack.push(obj[k]);
        stack.push(new Literal(`${JSON.stringify(k)}:`));
        if (i > 0) stack.push(COMMA);
      }
      stack.push(OPEN_OBJECT);
    } else {
      out.push(JSON.stringify(item) ?? "null");
    }
  }
  return out.join("");
}
