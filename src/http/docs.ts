/** The /docs page: Swagger UI over /openapi.json (its assets come from a CDN at view time). */
export function docsPage(): string {
  return `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>PO invoicing API</title>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"></head>
<body><div id="ui"><p>Loading the API documentation from <a href="/openapi.json">/openapi.json</a>…</p></div>
<script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js" crossorigin></script>
<script>window.addEventListener("load", () => { if (window.SwaggerUIBundle) SwaggerUIBundle({ url: "/openapi.json", dom_id: "#ui" }); });</script>
</body></html>`;
}
