/**
 * Starts the local sandbox: the QBO emulator and the Worker under `wrangler dev`, wired
 * together. Used by `npm run dev`, the browser test, the benchmarks and the chaos suite.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const HOST = "127.0.0.1";

export function portFree(port) {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, HOST, () => srv.close(() => resolve(true)));
  });
}

/** A port the OS says is free right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function waitForHttp(url, what, timeoutMs = 60_000) {
  const start = Date.now();
  while (Date.now() - start < timeoutMs) {
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what} did not answer on ${url} within ${timeoutMs / 1000} s`);
}

/**
 * @param {object} o
 * @param {number} o.workerPort
 * @param {number} o.emulatorPort
 * @param {Record<string,string>} o.secrets   API_TOKEN, QBO_WEBHOOK_VERIFIER_TOKEN, TOKEN_ENCRYPTION_KEY, QBO_CLIENT_ID, QBO_CLIENT_SECRET
 * @param {string} [o.persistTo]              wrangler state dir (default: wrangler's own .wrangler/state)
 * @param {string} [o.config]                wrangler config, relative to the repository root (default: wrangler.toml)
 * @param {boolean} [o.secretsAsVars]         pass secrets with --var (tests) instead of relying on .dev.vars
 * @param {Record<string,string>} [o.vars]    extra --var overrides
 * @param {"inherit"|"ignore"} [o.stdio]
 */
export async function startSandbox(o) {
  const workerUrl = `http://${HOST}:${o.workerPort}`;
  const emulatorUrl = `http://${HOST}:${o.emulatorPort}`;
  const stdio = o.stdio ?? "inherit";
  const env = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" };
  const persist = o.persistTo ? ["--persist-to", o.persistTo] : [];
  const config = o.config ? ["--config", o.config] : [];
  const children = [];
  const stop = () => {
    for (const child of children) {
      if (child.exitCode === null) {
        try {
          process.kill(-child.pid, "SIGTERM");
        } catch {
          child.kill("SIGTERM");
        }
      }
    }
  };

  const migrate = spawnSync(
    "npx",
    ["wrangler", "d1", "migrations", "apply", "DB", "--local", ...config, ...persist],
    {
      cwd: root,
      stdio: ["ignore", "ignore", stdio === "inherit" ? "inherit" : "pipe"],
      env,
    },
  );
  if (migrate.status !== 0) throw new Error(`applying D1 migrations failed: ${migrate.stderr ?? ""}`);

  const emulator = spawn(
    process.execPath,
    [
      join(root, "emulator/main.ts"),
      "--port",
      String(o.emulatorPort),
      "--host",
      HOST,
      "--webhook-url",
      `${workerUrl}/webhooks/qbo`,
      "--verifier-token",
      o.secrets.QBO_WEBHOOK_VERIFIER_TOKEN,
    ],
    { cwd: root, stdio: ["ignore", stdio, stdio], detached: true },
  );
  children.push(emulator);
  await waitForHttp(`${emulatorUrl}/__control/health`, "The QBO emulator");

  const vars = {
    QBO_API_BASE_URL: emulatorUrl,
    QBO_TOKEN_URL: `${emulatorUrl}/oauth2/v1/tokens/bearer`,
    QBO_AUTHORIZE_URL: `${emulatorUrl}/connect/oauth2`,
    QBO_REVOKE_URL: `${emulatorUrl}/v2/oauth2/tokens/revoke`,
    QBO_REDIRECT_URI: `${workerUrl}/oauth/qbo/callback`,
    ...(o.secretsAsVars ? o.secrets : {}),
    ...(o.vars ?? {}),
  };
  const wrangler = spawn(
    "npx",
    [
      "wrangler",
      "dev",
      ...config,
      "--port",
      String(o.workerPort),
      "--ip",
      HOST,
      "--test-scheduled",
      "--show-interactive-dev-session=false",
      ...persist,
      ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ],
    { cwd: root, stdio: ["ignore", stdio, stdio], env, detached: true },
  );
  children.push(wrangler);
  try {
    await waitForHttp(`${workerUrl}/health`, "The Worker", 90_000);
  } catch (err) {
    stop();
    throw err;
  }
  return { workerUrl, emulatorUrl, children, stop, emulator, wrangler };
}

/** Calls the Worker's API with the bearer token; throws on a non-2xx answer. */
export function apiClient(workerUrl, token) {
  return async function api(method, path, body) {
    const res = await fetch(`${workerUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    const json = text ? JSON.parse(text) : null;
    if (!res.ok)
      throw Object.assign(new Error(`${method} ${path} → ${res.status}: ${text}`), {
        status: res.status,
        body: json,
      });
    return json;
  };
}

/** Fresh secrets for a throw-away sandbox (the emulator's default client credentials). */
export function sandboxSecrets(prefix) {
  return {
    API_TOKEN: `${prefix}-${randomBytes(8).toString("hex")}`,
    QBO_WEBHOOK_VERIFIER_TOKEN: `${prefix}-verifier-${randomBytes(8).toString("hex")}`,
    TOKEN_ENCRYPTION_KEY: randomBytes(32).toString("base64"),
    QBO_CLIENT_ID: "test-client-id",
    QBO_CLIENT_SECRET: "test-client-secret",
  };
}
