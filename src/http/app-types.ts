/**
 * The app's types and factory, in one module that route modules import (never app.ts, which
 * only assembles them): the typed env, the app, a typed route handler, and the validation hook
 * that turns zod issues into SPEC §3's `validation_failed` body.
 */
import { OpenAPIHono, type RouteConfig, type RouteHandler } from "@hono/zod-openapi";
import { ApiError } from "../lib/errors";

/**
 * Who is calling. Set by the auth middleware once API keys land (SPEC §11); until then it is
 * absent, which means the deployment token.
 */
export type Caller =
  | { type: "deployment" }
  | { type: "api_key"; id: string; name: string; role: string; conference: string };

export type AppEnv = { Bindings: Env; Variables: { requestId: string; caller?: Caller } };
export type App = OpenAPIHono<AppEnv>;
/** A handler typed from its route: params, query and body as validated, responses as declared. */
export type AppRouteHandler<R extends RouteConfig> = RouteHandler<R, AppEnv>;

/** Turns zod issues into `details: [{path, message}]` with dotted paths (`lineItems.0.quantity`). */
function validationError(issues: readonly { path: readonly PropertyKey[]; message: string }[]): ApiError {
  return new ApiError(
    "validation_failed",
    "The request is not valid.",
    issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message })),
  );
}

export function newApp(): App {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (!result.success) throw validationError(result.error.issues);
    },
  });
}
