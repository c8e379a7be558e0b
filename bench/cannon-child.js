// Runs one autocannon measurement in its own process and prints the result as JSON:
// every scenario gets a fresh load generator, with nothing left over from the last.
import autocannon from "autocannon";

const opts = JSON.parse(process.env.CANNON_OPTS ?? "{}");
autocannon(opts, (err, res) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  process.stdout.write(JSON.stringify(res));
});
