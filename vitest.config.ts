import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";

/** Fixed test secrets; they only ever protect the local emulator. */
export const TEST_SECRETS = {
  API_TOKEN: "test-api-token",
  QBO_WEBHOOK_VERIFIER_TOKEN: "test-webhook-verifier",
  TOKEN_ENCRYPTION_KEY: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
  // The key before a rotation (test/qbo/key-rotation.test.ts seals rows under it).
  TOKEN_ENCRYPTION_KEY_PREVIOUS: "cHJldmlvdXMta2V5LWZvci10ZXN0cy0zMi1ieXRlcyE=",
  QBO_CLIENT_ID: "test-client-id",
  QBO_CLIENT_SECRET: "test-client-secret",
};

export default defineConfig(async () => {
  const migrations = await readD1Migrations("./migrations");
  return {
    test: {
      projects: [
        {
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
                  },
                },
              };
            }),
          ],
          test: {
            name: "worker",
            // Log lines (structured JSON) are shown for failing tests only.
            silent: "passed-only",
            include: ["test/**/*.test.ts"],
            globalSetup: ["./test/global-setup.ts"],
            setupFiles: ["./test/setup.ts"],
          },
        },
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
