/**
 * The callback receiver of a chaos run: plain HTTP on 127.0.0.1 that sometimes fails
 * (500) and sometimes never answers (the dispatcher's attempt times out), and otherwise
 * acknowledges. It dedups by `webhook-id`, as the Standard Webhooks receiver must: what
 * it acknowledged once is what the run checks against the outbox.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface Arrival {
  webhookId: string;
  taskId: string;
  status: string;
  answered: number | "hung";
}

export interface ReceiverRates {
  /** Answer 500. */
  fail: number;
  /** Hold the request without answering until the sender gives up. */
  hang: number;
}

export interface CallbackReceiver {
  url: string;
  /** Every request, in arrival order. */
  arrivals: Arrival[];
  /** The first acknowledged arrival per webhook-id. */
  acknowledged: Map<string, Arrival>;
  /** Acknowledged again (a redelivery of a webhook-id already acknowledged). */
  duplicates: number;
  close(): Promise<void>;
}

export async function startReceiver(
  rates: ReceiverRates,
  random: () => number = Math.random,
): Promise<CallbackReceiver> {
  const arrivals: Arrival[] = [];
  const acknowledged = new Map<string, Arrival>();
  const state = { duplicates: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let taskId = "";
      let status = "";
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
          id?: string;
          status?: string;
        };
        taskId = String(body.id ?? "");
        status = String(body.status ?? "");
      } catch {
        // recorded with empty fields: the check reports it
      }
      const webhookId = String(req.headers["webhook-id"] ?? "");
      const r = random();
      const answer: number | "hung" =
        r < rates.fail ? 500 : r < rates.fail + rates.hang ? "hung" : 200;
      const arrival: Arrival = { webhookId, taskId, status, answered: answer };
      arrivals.push(arrival);
      if (answer === "hung") return; // the socket stays open until the sender leaves
      if (answer === 200) {
        if (acknowledged.has(webhookId)) state.duplicates++;
        else acknowledged.set(webhookId, arrival);
      }
      res.writeHead(answer, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrivals,
    acknowledged,
    get duplicates() {
      return state.duplicates;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
