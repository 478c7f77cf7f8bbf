declare global {
  namespace Cloudflare {
    interface Env {
      TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
      QBO_EMULATOR_URL: string;
    }
  }
}

export {};
