/** Node side of the test run: one QBO emulator for every test file (realms keep files apart). */
import type { TestProject } from "vitest/node";
import { startEmulator } from "../emulator/server.ts";

declare module "vitest" {
  export interface ProvidedContext {
    qboPort: number;
  }
}

export default async function setup(project: TestProject) {
  const emulator = await startEmulator({ port: 0 });
  project.provide("qboPort", emulator.port);
  return async () => {
    await emulator.close();
  };
}
