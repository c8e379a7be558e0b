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
