/**
 * The process's PostgreSQL pool, and the two ways the backend uses it: one statement
 * (`query`) or one transaction (`tx`). Every store on this backend goes through here.
 *
 * - Integers: BIGINT columns (money in micro-credits, unix milliseconds) come back as
 *   JavaScript numbers, exact up to 2^53; a value beyond that is refused loudly rather
 *   than rounded (9 × 10^15 micros is nine billion credits).
 * - Transactions retry on serialization failures and deadlocks (SQLSTATE 40001, 40P01),
 *   which PostgreSQL reports when two transactions must not both win; the function is
 *   run again from the start, so it must not have side effects outside the database.
 * - A schema other than `public` (tests give each file its own) is set per connection
 *   through the startup `search_path`, so every statement stays schema-unqualified.
 *   It is given as an option, or in the URL as libpq does:
 *   `?options=-c%20search_path%3Dmy_schema`.
 */
import pg from "pg";

export type Row = Record<string, unknown>;

/** A connection inside a transaction (or the pool, for a single statement). */
export interface Queryable {
  query<R extends Row = Row>(sql: string, params?: readonly unknown[]): Promise<R[]>;
}

export interface PgDatabaseOptions {
  /** Pool size (connections); default 10. */
  max?: number;
  /** The schema to use instead of `public` (created by the caller). */
  schema?: string;
  /** Told of errors on idle connections (a server restart); the pool replaces them. */
  onIdleError?: (err: Error) => void;
}

const INT8 = 20;
const NUMERIC = 1700;

function exactInteger(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw new Error(`integer ${text} is beyond 2^53`);
  return n;
}

const types = {
  getTypeParser(oid: number, format?: "text" | "binary") {
    if (oid === INT8 || oid === NUMERIC) return exactInteger;
    return pg.types.getTypeParser(oid, format);
  },
} as pg.CustomTypesConfig;

/** The schema a URL's `options=-c search_path=…` names (its first entry), if any. */
export function schemaInUrl(url: string): string | null {
  let options: string | null;
  try {
    options = new URL(url).searchParams.get("options");
  } catch {
    return null; // not a URL: pg reports it when connecting
  }
  const m = options ? /search_path\s*=\s*"?([^,"\s]+)/.exec(options) : null;
  return m ? m[1]! : null;
}

/** Where a URL points, without its credentials: for error messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || "5432"}${u.pathname}`;
  } catch {
    return "an unparsable DATABASE_URL";
  }
}

const RETRYABLE = new Set(["40001", "40P01"]);
const MAX_TX_ATTEMPTS = 5;

export class PgDatabase implements Queryable {
  readonly pool: pg.Pool;
  readonly schema: string;

  constructor(url: string, opts: PgDatabaseOptions = {}) {
    this.schema = opts.schema ?? schemaInUrl(url) ?? "public";
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(this.schema))
      throw new Error(`invalid PostgreSQL schema name "${this.schema}"`);
    this.pool = new pg.Pool({
      connectionString: url,
      max: opts.max ?? 10,
      types,
      // A server that does not answer must fail the start, not hang it.
      connectionTimeoutMillis: 10_000,
      ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
    });
    this.pool.on("error", (err) => opts.onIdleError?.(err));
  }

  async query<R extends Row = Row>(sql: string, params: readonly unknown[] = []): Promise<R[]> {
    const r = await this.pool.query<R>(sql, params as unknown[]);
    return r.rows;
  }

  /** Runs `fn` in one transaction (READ COMMITTED unless `isolation` says otherwise). */
  async tx<T>(
    fn: (c: Queryable) => Promise<T>,
    isolation: "read committed" | "repeatable read" | "serializable" = "read committed",
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect();
      let broken = false;
      try {
        await client.query(
          isolation === "read committed" ? "BEGIN" : `BEGIN ISOLATION LEVEL ${isolation}`,
        );
        const result = await fn({
          async query<R extends Row = Row>(sql: string, params: readonly unknown[] = []) {
            return (await client.query<R>(sql, params as unknown[])).rows;
          },
        });
        await client.query("COMMIT");
        return result;
      } catch (err) {
        try {
          await client.query("ROLLBACK");
        } catch {
          broken = true; // the connection is gone; do not hand it back to the pool
        }
        const code = (err as { code?: unknown }).code;
        if (typeof code === "string" && RETRYABLE.has(code) && attempt < MAX_TX_ATTEMPTS) continue;
        throw err;
      } finally {
        client.release(broken);
      }
    }
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}
