import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { TEST_SECRETS } from "./test/secrets.ts";

/** Node's environment (the project typechecks without @types/node; see emulator/node.ts). */
const processEnv = (globalThis as unknown as { process: { env: Record<string, string | undefined> } }).process
  .env;

// wrangler reads wrangler.toml's required secrets from process.env and warns about each one
// missing (the Worker gets them from the bindings below either way); give it the same values.
for (const [name, value] of Object.entries(TEST_SECRETS)) processEnv[name] ??= value;
// ...and then says "Using secrets defined in process.env" once per test file: keep wrangler's
// warnings and errors only (WRANGLER_LOG=log or debug in the shell brings the rest back).
processEnv.WRANGLER_LOG ??= "warn";

/** Worker test files that run the scheduled handlers (they see the whole deployment's D1). */
const WHOLE_DEPLOYMENT = [
  "test/sync/cron-and-queue.test.ts",
  "test/sync/pruning.test.ts",
  "test/safety/realm.test.ts",
  "test/events/crons.test.ts",
  "test/sync/inbox.test.ts",
  "test/sync/change-feed.test.ts",
];

export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  const workerProject = (
    name: string,
    files: { include: string[]; exclude?: string[]; isolate: boolean },
  ) => ({
    plugins: [
      cloudflareTest(({ inject }) => {
        const qbo = `http://127.0.0.1:${inject("qboPort")}`;
        return {
          wrangler: { configPath: "./wrangler.toml" },
          miniflare: {
            bindings: {
              ...TEST_SECRETS,
              TEST_MIGRATIONS: migrations,
              QBO_EMULATOR_URL: qbo,
              QBO_API_BASE_URL: qbo,
              QBO_TOKEN_URL: `${qbo}/oauth2/v1/tokens/bearer`,
              QBO_AUTHORIZE_URL: `${qbo}/connect/oauth2`,
              QBO_REVOKE_URL: `${qbo}/v2/oauth2/tokens/revoke`,
              SYNC_BATCH_SIZE: "100",
            },
            // Test-only: instant delivery, and fewer retries so dead-lettering takes seconds.
            queueConsumers: {
              "qbo-sync": { maxBatchTimeout: 0, maxRetries: 2, deadLetterQueue: "qbo-sync-dlq" },
              "qbo-sync-dlq": { maxBatchTimeout: 0 },
              "platform-events": { maxBatchTimeout: 0 },
            },
          },
        };
      }),
    ],
    test: {
      name,
      include: files.include,
      exclude: files.exclude ?? [],
      isolate: files.isolate,
      globalSetup: ["./test/global-setup.ts"],
      setupFiles: ["./test/setup.ts"],
    },
  });
  return {
    test: {
      // Console output (the Worker's structured log lines) is shown for failing tests only. The
      // reporter reads this from the root config, not from a project's.
      silent: "passed-only" as const,
      // Worker tests mostly wait on round trips (emulator, queues, D1), not on the CPU: three pool
      // workers halve the suite's wall time on a 2-CPU machine (about 100 s → 60 s measured),
      // where vitest's default would be one.
      maxWorkers: 3,
      // Most worker tests take a few hundred ms of emulator round trips; list only the slow ones.
      slowTestThreshold: 1000,
      projects: [
        // Files share a workerd (and its D1) per pool worker: a fresh one per file costs ~0.5 s
        // each, and files stay apart by working in their own conferences and QBO realms.
        workerProject("worker", {
          include: ["test/**/*.test.ts"],
          exclude: WHOLE_DEPLOYMENT,
          isolate: false,
        }),
        // Files that run the cron handlers act on every conference in D1 (and assert over whole
        // tables): each gets a workerd and D1 of its own, so they never touch another file's data.
        workerProject("worker-cron", { include: WHOLE_DEPLOYMENT, isolate: true }),
        {
          test: {
            name: "emulator",
            environment: "node",
            include: ["emulator/**/*.test.ts"],
          },
        },
      ],
    },
  };
});
