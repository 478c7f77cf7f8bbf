/**
 * GET /docs: Swagger UI over /openapi.json, served wholly by this Worker (SPEC §13: no asset
 * from a CDN). The pinned swagger-ui-dist files are bundled as text modules (wrangler.toml
 * `[[rules]]`) and served under a path that names their version, so they can be cached for a
 * year. The page's CSP lets scripts come from this origin only: the init script is a file too,
 * so there is no inline script to allow.
 */
import swaggerUiPackage from "swagger-ui-dist/package.json";
import swaggerUiCss from "swagger-ui-dist/swagger-ui.css";
import swaggerUiBundle from "swagger-ui-dist/swagger-ui-bundle.js";
import { ApiError } from "../lib/errors";
import type { App } from "./app-types";

export const SWAGGER_UI_VERSION: string = swaggerUiPackage.version;
const ASSET_BASE = `/docs/assets/${SWAGGER_UI_VERSION}`;

const DOCS_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** `validatorUrl: null`: Swagger UI would otherwise load a badge from validator.swagger.io. */
const INIT_SCRIPT = `window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#ui", validatorUrl: null, deepLinking: true });
});
`;

const JS = "text/javascript; charset=utf-8";
const ASSETS = new Map([
  ["swagger-ui-bundle.js", { body: swaggerUiBundle, type: JS }],
  ["swagger-ui.css", { body: swaggerUiCss, type: "text/css; charset=utf-8" }],
]);

function docsPage(): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>PO invoicing API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${ASSET_BASE}/swagger-ui.css"></head>
<body><div id="ui"><p>Loading the API documentation from <a href="/openapi.json">/openapi.json</a>…</p></div>
<script src="${ASSET_BASE}/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>`;
}

export function registerDocsRoutes(app: App): void {
  app.get("/docs", (c) => {
    c.header("content-security-policy", DOCS_CSP);
    c.header("cache-control", "no-cache");
    return c.html(docsPage());
  });

  // Not under the versioned path: it may change without Swagger UI changing.
  app.get("/docs/init.js", (c) =>
    c.body(INIT_SCRIPT, 200, {
      "content-type": JS,
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
    }),
  );

  app.get("/docs/assets/:version/:file", (c) => {
    const asset = c.req.param("version") === SWAGGER_UI_VERSION ? ASSETS.get(c.req.param("file")) : undefined;
    if (!asset) throw new ApiError("not_found", "No such documentation asset.");
    return c.body(asset.body, 200, {
      "content-type": asset.type,
      "cache-control": "public, max-age=31536000, immutable",
      "x-content-type-options": "nosniff",
    });
  });
}
