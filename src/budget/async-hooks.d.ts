/**
 * The one piece of `node:async_hooks` the Worker uses (workerd provides it under
 * `nodejs_compat`). Declared here because the project typechecks without @types/node
 * (see emulator/node.ts).
 */
declare module "node:async_hooks" {
  export class AsyncLocalStorage<T> {
    run<R>(store: T, fn: () => R): R;
    getStore(): T | undefined;
  }
}
