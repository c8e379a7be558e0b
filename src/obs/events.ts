/**
 * Typed lifecycle events. Metrics, logs and tests subscribe here instead of reaching
 * into the runner, so a test can await "this task finished" rather than sleep.
 */
import { EventEmitter } from "node:events";
import type { TaskStatus } from "../core/types.js";

export interface DarkroomEvents {
  "task:submitted": [{ taskId: string; model: string }];
  "task:claimed": [{ taskId: string; attempt: number }];
  "task:finished": [
    { taskId: string; status: TaskStatus; model: string; seconds: number; code?: string },
  ];
  "task:lease_lost": [{ taskId: string }];
}

export class DarkroomEventBus extends EventEmitter<DarkroomEvents> {
  constructor() {
    super();
    this.setMaxListeners(0);
  }
}
