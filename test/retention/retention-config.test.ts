import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config/config.js";

describe("retention settings", () => {
  it("keeps images a week and tasks for ever by default", () => {
    expect(loadConfig({}).retention).toEqual({ imageHours: 168, taskDays: 0 });
  });

  it("refuses images that would expire before the links made to them", () => {
    const load = () =>
      loadConfig({ DARKROOM_IMAGE_RETENTION_HOURS: "12", DARKROOM_RESULT_URL_TTL: "86400" });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(/result links would outlive their images/);
    expect(
      loadConfig({ DARKROOM_IMAGE_RETENTION_HOURS: "24", DARKROOM_TASK_RETENTION_DAYS: "30" })
        .retention,
    ).toEqual({ imageHours: 24, taskDays: 30 });
    expect(() => loadConfig({ DARKROOM_TASK_RETENTION_DAYS: "-1" })).toThrow(/whole number/);
  });
});

describe("file API settings", () => {
  const base = { DARKROOM_DATA_DIR: "/tmp/darkroom-files-config" };
  it("default to EvoLink's 72 hours and 2,000 files, 10 MiB a file, 1 GiB an account", () => {
    expect(loadConfig(base).files).toEqual({
      ttlHours: 72,
      maxBytes: 10 * 1024 * 1024,
      quotaFiles: 2000,
      quotaBytes: 1024 ** 3,
    });
  });
  it("take the environment, 0 meaning no quota, and refuse nonsense by name", () => {
    const files = loadConfig({
      ...base,
      DARKROOM_FILES_TTL_HOURS: "1",
      DARKROOM_FILES_MAX_BYTES: "2048",
      DARKROOM_FILES_QUOTA_FILES: "0",
      DARKROOM_FILES_QUOTA_BYTES: "0",
    }).files;
    expect(files).toEqual({ ttlHours: 1, maxBytes: 2048, quotaFiles: null, quotaBytes: null });
    expect(() => loadConfig({ ...base, DARKROOM_FILES_TTL_HOURS: "0" })).toThrow(
      /DARKROOM_FILES_TTL_HOURS/,
    );
    expect(() => loadConfig({ ...base, DARKROOM_FILES_MAX_BYTES: "lots" })).toThrow(
      /DARKROOM_FILES_MAX_BYTES/,
    );
  });
});
