/**
 * CLI: npx node emulator/main.ts [--port 8788] [--host 127.0.0.1]
 *        [--webhook-url URL --verifier-token T [--webhook-format classic|cloudevents]
 *         [--webhook-retry-time-scale 0.01]]
 */

import { nodeProcess, PortInUseError } from "./node.ts";
import { startEmulator } from "./server.ts";

interface CliOptions {
  port: number;
  host: string;
  webhookUrl?: string;
  verifierToken?: string;
  webhookFormat: "classic" | "cloudevents";
  /** Compresses Intuit's webhook retry schedule (1 = real time), for chaos runs and demos. */
  webhookRetryTimeScale?: number;
}

function parseArgs(argv: string[]): CliOptions {
  const options: CliOptions = { port: 8788, host: "127.0.0.1", webhookFormat: "classic" };
  for (let index = 0; index < argv.length; index++) {
    const flag = argv[index];
    const value = argv[index + 1];
    if (value === undefined) fail(`Missing value after ${flag}`);
    index++;
    if (flag === "--port") {
      const port = Number(value);
      if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`Invalid port ${value}`);
      options.port = port;
    } else if (flag === "--host") options.host = value;
    else if (flag === "--webhook-url") options.webhookUrl = value;
    else if (flag === "--verifier-token") options.verifierToken = value;
    else if (flag === "--webhook-format") {
      if (value !== "classic" && value !== "cloudevents")
        fail("--webhook-format must be classic or cloudevents");
      options.webhookFormat = value;
    } else if (flag === "--webhook-retry-time-scale") {
      const scale = Number(value);
      if (!(scale > 0 && scale <= 1)) fail("--webhook-retry-time-scale must be a number in (0, 1]");
      options.webhookRetryTimeScale = scale;
    } else fail(`Unknown option ${flag}`);
  }
  if ((options.webhookUrl === undefined) !== (options.verifierToken === undefined)) {
    fail("--webhook-url and --verifier-token go together");
  }
  return options;
}

function fail(message: string): never {
  console.error(message);
  return nodeProcess.exit(1);
}

const options = parseArgs(nodeProcess.argv.slice(2));
try {
  const emulator = await startEmulator({
    port: options.port,
    host: options.host,
    webhook:
      options.webhookUrl && options.verifierToken
        ? {
            url: options.webhookUrl,
            verifierToken: options.verifierToken,
            format: options.webhookFormat,
            retryTimeScale: options.webhookRetryTimeScale,
          }
        : undefined,
  });
  console.log(`QBO emulator listening on ${emulator.url}`);
  const stop = () => {
    void emulator.close().then(() => nodeProcess.exit(0));
  };
  nodeProcess.on("SIGINT", stop);
  nodeProcess.on("SIGTERM", stop);
} catch (error) {
  if (error instanceof PortInUseError)
    fail(`Port ${error.port} is in use: stop the other process or pass --port`);
  throw error;
}
