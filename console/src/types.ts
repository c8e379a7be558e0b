/** The admin API's JSON, as the console reads it (src/http/routes/admin/*). */

export interface List<T> {
  object: "list";
  data: T[];
  next_cursor?: string | null;
  has_more?: boolean;
  total?: number;
}

export interface TaskError {
  code: string;
  message: string;
}

export interface AdminTask {
  id: string;
  account_id: string;
  api_key_id: string | null;
  model: string;
  status: string;
  progress: number;
  n: number;
  prompt: string;
  created_at: number;
  finished_at: number | null;
  duration_ms: number | null;
  credits_reserved: number;
  credits_used: number | null;
  channel_id: string | null;
  error: TaskError | null;
  thumbnail_url: string | null;
}

export interface TimelineEvent {
  at_ms: number;
  event: string;
  channel_id?: string;
  outcome?: string;
  error_code?: string;
  duration_ms?: number;
}

export interface CallbackAttempt {
  at_ms: number;
  status_code: number | null;
  error: string | null;
  duration_ms?: number;
}

export interface AdminTaskDetail extends AdminTask {
  request: Record<string, unknown>;
  results: string[];
  timeline: TimelineEvent[];
  callbacks: Array<{ id: string; status: string; attempts: CallbackAttempt[] }>;
}

export interface Stats {
  window_minutes: number;
  per_minute: Array<{ minute: number; submitted: number; completed: number; failed: number }>;
  success_rate: number | null;
  credits_spent: number;
  durations: Array<{
    model: string;
    channel_id: string;
    count: number;
    p50_ms: number;
    p95_ms: number;
  }>;
  queue_depth: Record<string, number>;
  in_flight: number;
}

export interface ProcessStatus {
  role: string;
  runner: { in_flight: number; concurrency: number } | null;
  [k: string]: unknown;
}

export interface Account {
  id: string;
  name: string;
  group: string;
  balance: number;
  held: number;
  available: number;
  used: number;
  disabled: boolean;
  created: number;
}

export interface ApiKey {
  id: string;
  account_id: string;
  name: string | null;
  prefix: string;
  allowed_models: string[] | null;
  credit_limit: number | null;
  unlimited: boolean;
  credits_used: number;
  credits_held: number;
  rpm_limit: number | null;
  max_concurrent: number | null;
  active_tasks: number;
  expires_at: number | null;
  revoked_at: number | null;
  created: number;
}

export interface LedgerEntry {
  id: number;
  account_id: string;
  api_key_id: string | null;
  task_id: string | null;
  kind: string;
  amount: number;
  balance_after: number;
  held_after: number;
  reason: string | null;
  created: number;
}

export interface Channel {
  id: string;
  source: string;
  model: string;
  provider: string;
  base_url: string | null;
  priority: number;
  weight: number;
  max_concurrency: number | null;
  timeout_ms: number;
  enabled: boolean;
  health: {
    state: string;
    in_flight: number;
    max_concurrency: number | null;
    open_until: number | null;
    problem: string | null;
    successes: number;
    failures: number;
    latency_ms: { p50: number | null; p95: number | null; samples: number };
    recent_errors: Record<string, number>;
    last_error: unknown;
  };
}

export interface Delivery {
  id: string;
  task_id: string;
  account_id: string;
  url: string;
  status: string;
  attempts: number;
  next_attempt_at: number | null;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: number | null;
  created: number;
  attempt_list: Array<{
    attempt: number;
    status_code: number | null;
    latency_ms: number | null;
    error_kind: string | null;
    error_message: string | null;
    created: number;
  }>;
}

export interface CatalogueModel {
  id: string;
  price: number;
}

/** GET /v1/tasks/{id}. */
export interface PublicTask {
  id: string;
  model: string;
  status: string;
  progress: number;
  created: number;
  results?: string[];
  error?: { code: string; message: string };
  task_info?: { can_cancel: boolean; estimated_time: number };
  usage?: { credits_reserved: number; credits_used?: number | null };
}
