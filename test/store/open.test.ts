/** openStore: the one way a process opens its database. */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/open.js";
import { freshSchema, PG_URL, postgresAnswers } from "../helpers/postgres.js";

const pgUp = await postgresAnswers();

/** The test server's URL with a schema chosen as an operator would: in `options`. */
function urlWithSchema(schema: string): string {
  const u = new URL(PG_URL);
  u.searchParams.set("options", `-c search_path=${schema}`);
  return u.toString();
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), "darkroom-open-"));
  dirs.push(d);
  return d;
}

const errors: string[] = [];
const warnings: string[] = [];
const log = {
  error: (_obj: object, msg: string) => void errors.push(msg),
  warn: (_obj: object, msg: string) => void warnings.push(msg),
};

describe("openStore", () => {
  it.skipIf(!pgUp)(
    "opens PostgreSQL for DATABASE_URL (schema from the URL), and creates no SQLite file",
    async () => {
      const sqlitePath = path.join(tempDir(), "darkroom.sqlite");
      const { schema, drop } = await freshSchema();
      try {
        const config = { databaseUrl: urlWithSchema(schema), sqlitePath };
        const first = await openStore(config, log);
        expect(await first.store.initSetting("marker", "kept")).toBe("kept");
        expect(first.wakeups).toBeDefined();
        await first.close();
        const again = await openStore(config, log);
        try {
          expect(await again.store.getSetting("marker")).toBe("kept");
        } finally {
          await again.close();
        }
        // The tables went to the schema the URL names, not to public.
        const pg = await import("pg");
        const c = new pg.default.Client(PG_URL);
        await c.connect();
        try {
          const r = await c.query(
            `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'tasks'`,
            [schema],
          );
          expect(r.rows[0].n).toBe(1);
        } finally {
          await c.end();
        }
      } finally {
        await drop();
      }
      expect(existsSync(sqlitePath)).toBe(false);
    },
  );

  it("fails the start clearly when PostgreSQL does not answer or the URL is bad", async () => {
    const sqlitePath = path.join(tempDir(), "darkroom.sqlite");
    await expect(
      openStore({ databaseUrl: "postgres://u:secret@127.0.0.1:1/darkroom", sqlitePath }, log),
    ).rejects.toThrow(/PostgreSQL at 127\.0\.0\.1:1\/darkroom does not answer/);
    await expect(
      openStore(
        {
          databaseUrl: "postgres://u@127.0.0.1:5432/x?options=-c%20search_path%3DBad-Name",
          sqlitePath,
        },
        log,
      ),
    ).rejects.toThrow(/DATABASE_URL is not usable: invalid PostgreSQL schema name/);
    expect(existsSync(sqlitePath)).toBe(false);
  });

  it("opens the embedded file, and the same file again with what was written", async () => {
    const sqlitePath = path.join(tempDir(), "data", "darkroom.sqlite");
    const first = await openStore({ databaseUrl: null, sqlitePath }, log);
    expect(await first.store.initSetting("marker", "kept")).toBe("kept");
    await first.close();
    const again = await openStore({ databaseUrl: null, sqlitePath }, log);
    try {
      expect(await again.store.getSetting("marker")).toBe("kept");
    } finally {
      await again.close();
    }
    expect(errors).toEqual([]);
  });
});
