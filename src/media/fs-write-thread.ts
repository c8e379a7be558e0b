/**
 * The file-writer thread: writes each batch it is sent with writeFilesDurably and
 * answers with one outcome per file, in order.
 */
import { parentPort } from "node:worker_threads";
import { writeFilesDurably, type FileOutcome, type FileToWrite } from "./durable-files.js";

export type FileThreadMessage = { type: "batch"; files: FileToWrite[] } | { type: "close" };
export type FileThreadReply = { type: "done"; outcomes: FileOutcome[] };

const port = parentPort;
if (!port) throw new Error("fs-write-thread must run as a worker thread");

port.on("message", (m: FileThreadMessage) => {
  if (m.type === "close") {
    port.close();
    return;
  }
  port.postMessage({
    type: "done",
    outcomes: writeFilesDurably(m.files),
  } satisfies FileThreadReply);
});
