/**
 * The operator's task reads on PostgreSQL (store/operator-tasks.ts says what each
 * costs). A listing page reads its walk plan (model_queue or the account's counts) and
 * its rows in one REPEATABLE READ transaction, as the account's listing does; the
 * stats read the window's minutes in one statement (at most 1,440 minutes times the
 * connections that wrote in each) and each model's duration sample in one more.
 */
import type { TaskPosition } from "../../core/task-cursor.js";
import {
  matchingCounts,
  TASK_COUNTS_SQL,
  taskGroups,
  taskPosition,
  type CountRow,
} from "../keyset-plan.js";
import {
  DURATION_SAMPLE_PER_MODEL,
  DURATION_SAMPLE_SQL,
  durationFromRow,
  MINUTES_SQL,
  minuteFromRow,
  MODELS_SQL,
  OPERATOR_TASK_LISTING,
  operatorTaskFromRow,
  operatorTaskWalks,
  TRAIL_SQL,
  trailFromRow,
  withChannel,
  type DurationRow,
  type MinuteRow,
  type OperatorTaskFilter,
  type OperatorTaskPage,
  type OperatorTaskRecord,
  type OperatorTaskRow,
  type OperatorTaskStore,
  type TaskActivity,
  type TrailRow,
} from "../operator-tasks.js";
import type { TrailEntry } from "../store.js";
import type { PgDatabase, Queryable, Row } from "./database.js";
import { numbered, PgKeyset } from "./keyset.js";

/** PostgreSQL picks its index by its statistics: a condition never needs hiding from one. */
const pgOffIndex = (column: string) => column;

/** Each model's newest completions in the window, all models in one statement. */
const DURATIONS_SQL = `SELECT d.* FROM model_queue AS m CROSS JOIN LATERAL (
    ${DURATION_SAMPLE_SQL.replace("model = ?", "model = m.model")}) AS d`;

export class PgOperatorTasks implements OperatorTaskStore {
  private readonly keyset = new PgKeyset(OPERATOR_TASK_LISTING);

  constructor(private readonly db: PgDatabase) {}

  private async walks(c: Queryable, f: OperatorTaskFilter) {
    if (f.accountId === null) {
      const models = (await c.query<{ model: string } & Row>(MODELS_SQL)).map((r) => r.model);
      return operatorTaskWalks(f, models, pgOffIndex);
    }
    const counts = await c.query<CountRow & Row>(numbered(TASK_COUNTS_SQL), [f.accountId]);
    return withChannel(
      taskGroups(f.accountId, matchingCounts(counts, f), f),
      f.channelId,
      pgOffIndex,
    );
  }

  async listAllTasks(
    f: OperatorTaskFilter,
    limit: number,
    after: TaskPosition | null,
  ): Promise<OperatorTaskPage> {
    return this.db.tx(async (c) => {
      const { rows, next } = await this.keyset.page(
        c,
        await this.walks(c, f),
        limit,
        after ? { after: [after.createdMs, after.id] } : { offset: 0 },
      );
      return {
        data: (rows as unknown as OperatorTaskRow[]).map(operatorTaskFromRow),
        next: next ? taskPosition(next) : null,
      };
    }, "repeatable read");
  }

  async taskWithTrail(
    taskId: string,
  ): Promise<{ task: OperatorTaskRecord; trail: TrailEntry[] } | null> {
    const [row] = await this.db.query<OperatorTaskRow & Row>(`SELECT * FROM tasks WHERE id = $1`, [
      taskId,
    ]);
    if (!row) return null;
    const trail = await this.db.query<TrailRow & Row>(numbered(TRAIL_SQL), [taskId]);
    return { task: operatorTaskFromRow(row), trail: trail.map(trailFromRow) };
  }

  async taskActivity(sinceMs: number, untilMs: number): Promise<TaskActivity> {
    const from = Math.floor(sinceMs / 60_000) * 60;
    const to = Math.floor(untilMs / 60_000) * 60 + 60;
    const [minutes, durations] = await Promise.all([
      this.db.query<MinuteRow & Row>(numbered(MINUTES_SQL), [from, to]),
      this.db.query<DurationRow & Row>(numbered(DURATIONS_SQL), [
        sinceMs,
        DURATION_SAMPLE_PER_MODEL,
      ]),
    ]);
    return { minutes: minutes.map(minuteFromRow), durations: durations.map(durationFromRow) };
  }
}
