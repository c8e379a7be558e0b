/** A WHERE clause for a listing's optional equality filters. */

/**
 * `WHERE a = ? AND b = ?` for the filters that are set (a missing or empty value is no
 * filter), with their values in order; an empty clause when none is set. Column names
 * come from our code, never from a request.
 */
export function whereEquals(filters: Record<string, string | null | undefined>): {
  sql: string;
  args: string[];
} {
  const set = Object.entries(filters).filter((e): e is [string, string] => Boolean(e[1]));
  return {
    sql: set.length ? `WHERE ${set.map(([col]) => `${col} = ?`).join(" AND ")}` : "",
    args: set.map(([, value]) => value),
  };
}
