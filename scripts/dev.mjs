#!/usr/bin/env node
/**
 * `npm run dev`: the whole product on a laptop, no Intuit account.
 *   1. checks ports and secrets (one clear message per problem),
 *   2. applies the D1 migrations locally,
 *   3. starts the QBO emulator (it posts signed webhooks to the Worker, like Intuit),
 *   4. starts the Worker with `wrangler dev --test-scheduled`, wired to the emulator,
 *   5. connects a demo conference ("demo") to a sandbox company in the emulator,
 *   6. starts a local event receiver and points the demo conference's event endpoint at it: it
 *      verifies each delivery's signature, prints one line per event and appends it to
 *      .wrangler/dev-events.jsonl (which `npm run demo` reads).
 * Ports: PORT (Worker, default 8787), QBO_EMULATOR_PORT (default 8788) and
 * EVENTS_RECEIVER_PORT (default 8789).
 */
import { randomBytes } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startEventReceiver } from "./lib/event-receiver.mjs";
import { HOST, portFree, root, startSandbox } from "./lib/sandbox.mjs";

const workerPort = Number(process.env.PORT ?? 8787);
const emulatorPort = Number(process.env.QBO_EMULATOR_PORT ?? 8788);
const receiverPort = Number(process.env.EVENTS_RECEIVER_PORT ?? 8789);
const host = HOST;
const workerUrl = `http://${host}:${workerPort}`;
const emulatorUrl = `http://${host}:${emulatorPort}`;
const REQUIRED = [
  "API_TOKEN",
  "QBO_WEBHOOK_VERIFIER_TOKEN",
  "TOKEN_ENCRYPTION_KEY",
  "QBO_CLIENT_ID",
  "QBO_CLIENT_SECRET",
];

function fail(message) {
  console.error(`\n✖ ${message}\n`);
  process.exit(1);
}

function readDevVars(path) {
  const vars = {};
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*(.*)\s*$/.exec(line);
    if (m) vars[m[1]] = m[2].replace(/^"(.*)"$/, "$1");
  }
  return vars;
}

/** A fresh `.dev.vars` with sandbox values when there is none (the emulator's default client). */
function ensureDevVars() {
  const path = join(root, ".dev.vars");
  if (!existsSync(path)) {
    writeFileSync(
      path,
      [
        "# Written by `npm run dev` for the local sandbox. Never commit this file.",
        `API_TOKEN=dev-${randomBytes(12).toString("hex")}`,
        `QBO_WEBHOOK_VERIFIER_TOKEN=dev-verifier-${randomBytes(12).toString("hex")}`,
        `TOKEN_ENCRYPTION_KEY=${randomBytes(32).toString("base64")}`,
        "QBO_CLIENT_ID=test-client-id",
        "QBO_CLIENT_SECRET=test-client-secret",
        "",
      ].join("\n"),
    );
    console.log("• wrote .dev.vars with sandbox secrets (API token inside)");
  }
  const vars = readDevVars(path);
  for (const name of REQUIRED) {
    if (!vars[name])
      fail(
        `.dev.vars has no ${name}. Add it (see .dev.vars.example) or delete .dev.vars to get sandbox values.`,
      );
  }
  if (Buffer.from(vars.TOKEN_ENCRYPTION_KEY, "base64").length !== 32) {
    fail(
      "TOKEN_ENCRYPTION_KEY in .dev.vars must be base64 of 32 bytes (node -e \"console.log(crypto.randomBytes(32).toString('base64'))\").",
    );
  }
  return vars;
}

async function api(vars, method, path, body) {
  const res = await fetch(`${workerUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${vars.API_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) fail(`${method} ${path} answered ${res.status}: ${await res.text()}`);
  return res.json();
}

const children = [];
function stopAll() {
  for (const child of children) {
    if (child.exitCode !== null) continue;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      child.kill("SIGTERM");
    }
  }
}
process.on("SIGINT", () => {
  stopAll();
  process.exit(0);
});
process.on("SIGTERM", () => {
  stopAll();
  process.exit(0);
});

/**
 * One line per event, as a platform would log it; also appended to the JSON-lines file that
 * `npm run demo` reads to show which events each of its steps caused.
 */
function printEvent(logPath) {
  return (e) => {
    console.log(
      `  ⇢ event  ${String(e.type).padEnd(20)} ${String(e.reference ?? "-").padEnd(10)} ${String(e.status ?? "-").padEnd(15)} ${e.webhookId.padEnd(10)} ${e.verified ? "✓ signature" : "✗ signature (answered 401)"}`,
    );
    const { payload: _payload, ...line } = e;
    appendFileSync(logPath, `${JSON.stringify(line)}\n`);
  };
}

async function main() {
  for (const [port, name, variable] of [
    [workerPort, "the Worker", "PORT"],
    [emulatorPort, "the QBO emulator", "QBO_EMULATOR_PORT"],
    [receiverPort, "the event receiver", "EVENTS_RECEIVER_PORT"],
  ]) {
    if (!(await portFree(port)))
      fail(
        `Port ${port} (for ${name}) is in use. Stop whatever uses it, or run with ${variable}=<free port>.`,
      );
  }
  const vars = ensureDevVars();

  console.log(
    `• applying migrations, starting the QBO emulator (${emulatorUrl}) and the Worker (${workerUrl})`,
  );
  let sandbox;
  try {
    sandbox = await startSandbox({ workerPort, emulatorPort, secrets: vars });
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
  children.push(...sandbox.children);
  for (const child of sandbox.children) {
    child.on("exit", (code) => {
      stopAll();
      if (code) fail(`A sandbox process stopped (exit ${code}); see its output above.`);
      process.exit(0);
    });
  }

  // The demo conference, connected to a sandbox company.
  await api(vars, "PUT", "/api/conferences/demo", { name: "Demo Conference 2027" });
  const conference = await api(vars, "GET", "/api/conferences/demo");
  if (!conference.qbo.connected) {
    const grant = await (
      await fetch(`${emulatorUrl}/__control/realms`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ companyName: "Demo Sandbox Company" }),
      })
    ).json();
    await api(vars, "PUT", "/api/conferences/demo/qbo/tokens", {
      realmId: grant.realmId,
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      accessTokenExpiresAt: grant.accessTokenExpiresAt,
      refreshTokenExpiresAt: grant.refreshTokenExpiresAt,
    });
  }
  // Events of the demo conference go to a receiver in this process, which holds the secret.
  mkdirSync(join(root, ".wrangler"), { recursive: true });
  const eventsLog = join(root, ".wrangler", "dev-events.jsonl");
  writeFileSync(eventsLog, "");
  const receiver = await startEventReceiver({ port: receiverPort, host, onEvent: printEvent(eventsLog) });
  const endpoint = await api(vars, "PUT", "/api/conferences/demo/event-endpoint", { url: receiver.url });
  receiver.setSecret(endpoint.secret);

  writeFileSync(
    join(root, ".wrangler", "dev-session.json"),
    JSON.stringify(
      {
        workerUrl,
        emulatorUrl,
        apiToken: vars.API_TOKEN,
        conference: "demo",
        eventsReceiverUrl: receiver.url,
        eventsLog,
      },
      null,
      2,
    ),
  );
  console.log(`
✔ Ready.
  API          ${workerUrl}   (Authorization: Bearer ${vars.API_TOKEN})
  Docs         ${workerUrl}/docs
  Console      ${workerUrl}/console   (sign in with the API token above)
  QBO sandbox  ${emulatorUrl}   (emulator; its consent page is used by the OAuth flow)
  Demo         conference "demo", connected to a sandbox company
  Events       ${receiver.url}   (the demo conference's event endpoint: each event is
               verified and printed below, and appended to .wrangler/dev-events.jsonl)

  In another terminal: npm run demo
  Cron by hand:        curl "${workerUrl}/__scheduled?cron=*/15+*+*+*+*"
`);
}

main().catch((err) => {
  stopAll();
  fail(err instanceof Error ? err.message : String(err));
});
