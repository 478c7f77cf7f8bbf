import { describe, expect, it } from "vitest";
import { nodeProcess, serve } from "../node.ts";

interface ChildProcess {
  stdout: { on(event: "data", listener: (chunk: Uint8Array) => void): void };
  stderr: { on(event: "data", listener: (chunk: Uint8Array) => void): void };
  on(event: "close", listener: (code: number | null) => void): void;
}
interface ChildProcessModule {
  spawn(command: string, args: string[], options: { cwd: string }): ChildProcess;
}

/** Vitest runs from the project root. */
const root = nodeProcess.cwd();

/** Runs main.ts until it exits, collecting what it prints. */
function runMain(args: string[]): Promise<{ output: string; code: number | null }> {
  const { spawn } = nodeProcess.getBuiltinModule("node:child_process") as ChildProcessModule;
  const child = spawn(nodeProcess.execPath, [`${root}/emulator/main.ts`, ...args], { cwd: root });
  let output = "";
  return new Promise((resolve) => {
    const collect = (chunk: Uint8Array) => {
      output += new TextDecoder().decode(chunk);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.on("close", (code) => resolve({ output, code }));
  });
}

describe("the CLI", () => {
  it("says in one line that the port is taken, and exits 1", async () => {
    const blocker = await serve(async () => ({ status: 200, headers: {}, body: "" }), {
      port: 0,
      host: "127.0.0.1",
    });
    try {
      const { output, code } = await runMain(["--port", String(blocker.port)]);
      expect(code).toBe(1);
      expect(output.trim()).toBe(`Port ${blocker.port} is in use: stop the other process or pass --port`);
    } finally {
      await blocker.close();
    }
  });
});
