/**
 * The fixed secrets of every test run, written once: vitest.config.ts binds them into the Worker
 * and the tests import them from here. They only ever protect the local emulator. The QBO client
 * is the emulator's registered default client, so token calls from the Worker are accepted.
 */
import { DEFAULT_CLIENT } from "../emulator/auth.ts";

export const TEST_SECRETS = {
  API_TOKEN: "test-api-token",
  QBO_WEBHOOK_VERIFIER_TOKEN: "test-webhook-verifier",
  /** base64 of 32 bytes, as the Worker requires. */
  TOKEN_ENCRYPTION_KEY: "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
  /** The key before a rotation (test/qbo/key-rotation.test.ts seals rows under it). */
  TOKEN_ENCRYPTION_KEY_PREVIOUS: "cHJldmlvdXMta2V5LWZvci10ZXN0cy0zMi1ieXRlcyE=",
  QBO_CLIENT_ID: DEFAULT_CLIENT.clientId,
  QBO_CLIENT_SECRET: DEFAULT_CLIENT.clientSecret,
} as const;

/** The deployment's bearer token for /api/*. */
export const API_TOKEN = TEST_SECRETS.API_TOKEN;

/** The key Intuit (here: the emulator) signs webhooks with. */
export const VERIFIER = TEST_SECRETS.QBO_WEBHOOK_VERIFIER_TOKEN;
