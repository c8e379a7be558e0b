/**
 * s3rver (a real S3-compatible server, objects in a directory) in a process of its own,
 * for test/helpers/s3.ts: `node --openssl-legacy-provider s3rver-process.mjs DIR BUCKET...`.
 * Prints {"port":N} once it listens on 127.0.0.1, and exits when its stdin closes, so it
 * never outlives the test process that started it.
 */
import S3rver from "s3rver";

const [directory, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: "127.0.0.1",
  port: 0,
  silent: true,
  directory,
  configureBuckets: buckets.map((name) => ({ name })),
});
const { port } = await server.run();
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.stdin.resume();
process.stdin.on("end", () => {
  server.close().finally(() => process.exit(0));
});
