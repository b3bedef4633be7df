// Runs the fauxqs SQS emulator on 127.0.0.1 only (its own CLI binds 0.0.0.0).
// Usage: node dev/sqs.mjs [PORT]   (or SQS_PORT=PORT; default 4566)
// Set FAUXQS_LOGGER=true to see every request.
import { buildApp } from "fauxqs";

const port = Number(process.argv[2] ?? process.env.SQS_PORT ?? 4566);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`sqs.mjs: bad port ${process.argv[2] ?? process.env.SQS_PORT}`);
  process.exit(2);
}

const app = buildApp({ logger: process.env.FAUXQS_LOGGER === "true" });
const address = await app.listen({ port, host: "127.0.0.1" });
console.log(`fauxqs listening on ${address}`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => app.close().finally(() => process.exit(0)));
}
