// Runs one autocannon measurement in its own process and prints the result as JSON:
// every scenario gets a fresh load generator, with nothing left over from the last.
// `pathsFile` (a JSON array of request paths) makes each request take the next path in
// turn, for scenarios over many distinct resources.
import { readFileSync } from "node:fs";
import autocannon from "autocannon";

const { pathsFile, ...opts } = JSON.parse(process.env.CANNON_OPTS ?? "{}");
if (pathsFile) {
  const paths = JSON.parse(readFileSync(pathsFile, "utf8"));
  let next = 0;
  opts.requests = [{ setupRequest: (req) => ({ ...req, path: paths[next++ % paths.length] }) }];
}
autocannon(opts, (err, res) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  process.stdout.write(JSON.stringify(res));
});
