/**
 * The admin routes validate with zod; their bodies and queries are published as the
 * JSON Schema of the very same zod objects. What a client sends is the input side of a
 * transform (credits: "12.5" or 12.5), so effects are described by their input.
 */
import type { z } from "zod";
import { zodToJsonSchema } from "zod-to-json-schema";
import type { JsonSchema } from "../../core/request-schema.js";

export function zodSchema(schema: z.ZodTypeAny): JsonSchema {
  // draft-07 output: its keywords mean the same in 2020-12 (OpenAPI 3.1), unlike the
  // 2019-09 target's boolean exclusiveMinimum.
  const out = zodToJsonSchema(schema, {
    target: "jsonSchema7",
    $refStrategy: "none",
    effectStrategy: "input",
    pipeStrategy: "input",
  }) as JsonSchema;
  delete out.$schema;
  return out;
}
