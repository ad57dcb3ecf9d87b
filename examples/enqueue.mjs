#!/usr/bin/env node
// Publish one fluxq job through AMQP, the way docs/contract.md says (amqplib).
//
//   npm install amqplib
//   FLUXQ_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/%2f FLUXQ_NAMESPACE=fluxq \
//     node examples/enqueue.mjs "studio photo of a red mug" [interactive|bulk]
//
// Prints the job id once RabbitMQ has confirmed the message. The exchange must exist
// (any fluxq binary declares it at start); publishing is `mandatory`, so a message no
// lane queue takes is an error, not a silent drop.
import { randomUUID } from "node:crypto";
import amqp from "amqplib";

const [prompt, lane = "bulk"] = process.argv.slice(2);
if (!prompt || !["bulk", "interactive"].includes(lane)) {
  console.error("usage: enqueue.mjs PROMPT [bulk|interactive]");
  process.exit(2);
}
const url = process.env.FLUXQ_AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672/%2f";
const ns = process.env.FLUXQ_NAMESPACE ?? "fluxq";
// The id is the idempotency key: publishing the same id again never runs it twice.
const job = { id: randomUUID(), model: "flux-2-pro", prompt, width: 1024, height: 1024 };

const conn = await amqp.connect(url);
try {
  const ch = await conn.createConfirmChannel(); // publisher confirms
  let returned = false;
  ch.on("return", () => (returned = true)); // unroutable (mandatory)
  await new Promise((resolve, reject) =>
    ch.publish(
      `${ns}.jobs`,
      lane,
      Buffer.from(JSON.stringify(job)),
      { persistent: true, contentType: "application/json", messageId: job.id, mandatory: true },
      (err) => (err ? reject(err) : resolve()),
    ),
  );
  if (returned) throw new Error(`no queue took the message (is ${ns}.jobs declared?)`);
  console.log(job.id);
} finally {
  await conn.close();
}
