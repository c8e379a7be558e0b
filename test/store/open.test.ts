/** openStore: the one way a process opens its database. */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openStore } from "../../src/store/open.js";

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
const log = { error: (_obj: object, msg: string) => void errors.push(msg) };

describe("openStore", () => {
  it("refuses DATABASE_URL clearly, and creates no SQLite file instead", async () => {
    const sqlitePath = path.join(tempDir(), "darkroom.sqlite");
    await expect(
      openStore({ databaseUrl: "postgres://u@localhost/darkroom", sqlitePath }, log),
    ).rejects.toThrow(/DATABASE_URL \(PostgreSQL\) is not supported yet/);
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
