/**
 * The only module that touches Node. The project typechecks against Workers types alone (no
 * @types/node), so the few Node APIs the emulator needs are declared here and loaded with
 * `process.getBuiltinModule` (Node >= 22.3) instead of `import "node:http"`.
 */

import { type EmulatorRequest, type Handler, isDrop, type Reply } from "./http.ts";

interface NodeSocket {
  destroy(): void;
}

interface NodeIncomingMessage extends AsyncIterable<Uint8Array> {
  method?: string;
  url?: string;
  headers: Record<string, string | string[] | undefined>;
  socket: NodeSocket;
}

interface NodeServerResponse {
  writeHead(status: number, headers: Record<string, string>): void;
  end(body?: string | Uint8Array): void;
  on(event: "close", listener: () => void): void;
}

interface NodeServer {
  keepAliveTimeout: number;
  headersTimeout: number;
  listen(port: number, host: string): void;
  close(callback: (error?: Error) => void): void;
  closeAllConnections(): void;
  address(): { port: number } | string | null;
  once(event: "listening", listener: () => void): void;
  once(event: "error", listener: (error: Error & { code?: string }) => void): void;
}

interface NodeHttp {
  createServer(listener: (request: NodeIncomingMessage, response: NodeServerResponse) => void): NodeServer;
}

export interface NodeProcess {
  argv: string[];
  execPath: string;
  cwd(): string;
  exitCode?: number;
  exit(code?: number): never;
  on(event: "SIGINT" | "SIGTERM", listener: () => void): void;
  getBuiltinModule(id: string): unknown;
}

export const nodeProcess = (globalThis as unknown as { process: NodeProcess }).process;

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

/** Thrown by `serve` when the port is taken, so the CLI can say so in one line. */
export class PortInUseError extends Error {
  readonly port: number;
  constructor(port: number) {
    super(`Port ${port} is in use`);
    this.port = port;
  }
}

/** Serves `handler` over HTTP/1.1 on host:port (port 0 picks a free one). */
export async function serve(
  handler: Handler,
  options: { port: number; host: string },
): Promise<RunningServer> {
  const http = nodeProcess.getBuiltinModule("node:http") as NodeHttp;
  const server = http.createServer((request, response) => {
    void respond(handler, request, response, options.host);
  });
  // Outlive clients' idle keep-alive timers, so the server never closes a socket a client is
  // about to reuse (that race shows up as a spurious network error in the Worker's tests).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once("listening", resolve);
    server.once("error", (error) => {
      reject(error.code === "EADDRINUSE" ? new PortInUseError(options.port) : error);
    });
    server.listen(options.port, options.host);
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function respond(
  handler: Handler,
  incoming: NodeIncomingMessage,
  response: NodeServerResponse,
  host: string,
): Promise<void> {
  const tasks: Array<() => Promise<void>> = [];
  let reply: Reply;
  try {
    reply = await handler(await toRequest(incoming, host), { afterResponse: (task) => tasks.push(task) });
  } catch (error) {
    console.error("qbo-emulator: unhandled error", error);
    reply = { status: 500, headers: { "content-type": "text/plain" }, body: "emulator error" };
  }
  if (isDrop(reply)) {
    incoming.socket.destroy();
  } else {
    response.writeHead(reply.status, reply.headers);
    response.end(reply.body);
  }
  for (const task of tasks) {
    task().catch((error: unknown) => console.error("qbo-emulator: background task failed", error));
  }
}

async function toRequest(incoming: NodeIncomingMessage, host: string): Promise<EmulatorRequest> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of incoming) chunks.push(chunk);
  const headers = new Headers();
  for (const [name, value] of Object.entries(incoming.headers)) {
    if (typeof value === "string") headers.set(name, value);
    else if (Array.isArray(value)) for (const item of value) headers.append(name, item);
  }
  const body = new TextDecoder().decode(concat(chunks));
  const url = new URL(incoming.url ?? "/", `http://${headers.get("host") ?? host}`);
  return { method: (incoming.method ?? "GET").toUpperCase(), url, headers, body };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1 && chunks[0]) return chunks[0];
  const total = chunks.reduce((sum, chunk) => sum + chunk.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
