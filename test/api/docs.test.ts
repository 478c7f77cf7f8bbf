/** /docs: Swagger UI served by the Worker itself (no CDN), under a strict Content-Security-Policy. */
import { describe, expect, it } from "vitest";
import packageJson from "../../package.json";
import { SWAGGER_UI_VERSION } from "../../src/http/docs";
import { call } from "../helpers";

const getPublic = (path: string) => call("GET", path, undefined, { token: null });

function directives(csp: string | null): Map<string, string[]> {
  return new Map(
    (csp ?? "")
      .split(";")
      .map((d) => d.trim().split(/\s+/))
      .filter(([name]) => name)
      .map(([name, ...values]) => [name as string, values]),
  );
}

/** Every src= and href= of the page. */
function references(html: string): string[] {
  return [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1] as string);
}

describe("GET /docs", () => {
  it("sends a Content-Security-Policy that allows scripts from this origin only", async () => {
    const res = await getPublic("/docs");
    expect(res.status).toBe(200);
    const csp = directives(res.headers.get("content-security-policy"));
    expect(csp.get("script-src")).toEqual(["'self'"]);
    expect(csp.get("default-src")).toEqual(["'none'"]);
    expect(csp.get("object-src")).toEqual(["'none'"]);
    expect(csp.get("base-uri")).toEqual(["'none'"]);
    expect(csp.get("frame-ancestors")).toEqual(["'none'"]);
    expect(csp.get("connect-src")).toEqual(["'self'"]);
    expect(res.headers.get("content-security-policy")).not.toMatch(/unsafe-(inline|eval)/);
  });

  it("names no other origin and has no inline script", async () => {
    const res = await getPublic("/docs");
    const html = res.body as string;
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/\/\/[a-z0-9.-]+\.[a-z]{2,}/i);
    const refs = references(html);
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const ref of refs) expect(ref, ref).toMatch(/^\/[^/]/);
    for (const script of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
      expect(script[1]).toMatch(/\ssrc="/);
      expect(script[2]?.trim()).toBe("");
    }
  });

  it("loads the pinned bundle, stylesheet and init script, each with its content type", async () => {
    const html = (await getPublic("/docs")).body as string;
    const refs = references(html);
    const bundle = refs.find((r) => r.endsWith("/swagger-ui-bundle.js"));
    const css = refs.find((r) => r.endsWith("/swagger-ui.css"));
    const init = refs.find((r) => r.endsWith("/init.js"));
    expect(bundle).toBe(`/docs/assets/${SWAGGER_UI_VERSION}/swagger-ui-bundle.js`);
    expect(css).toBe(`/docs/assets/${SWAGGER_UI_VERSION}/swagger-ui.css`);
    expect(init).toBe("/docs/init.js");

    const js = await getPublic(bundle ?? "");
    expect(js.status).toBe(200);
    expect(js.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(js.headers.get("x-content-type-options")).toBe("nosniff");
    expect(js.body).toContain("SwaggerUIBundle");

    const style = await getPublic(css ?? "");
    expect(style.status).toBe(200);
    expect(style.headers.get("content-type")).toBe("text/css; charset=utf-8");
    expect(style.body).toContain(".swagger-ui");

    const start = await getPublic(init ?? "");
    expect(start.status).toBe(200);
    expect(start.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(start.body).toContain('url: "/openapi.json"');
    expect(start.body).toContain("validatorUrl: null");
  });

  it("caches the versioned assets for a year, and the page and init script never stale", async () => {
    for (const file of ["swagger-ui-bundle.js", "swagger-ui.css"]) {
      const res = await getPublic(`/docs/assets/${SWAGGER_UI_VERSION}/${file}`);
      expect(res.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
    }
    expect((await getPublic("/docs")).headers.get("cache-control")).toBe("no-cache");
    expect((await getPublic("/docs/init.js")).headers.get("cache-control")).toBe("no-cache");
  });

  it("answers 404 for another version, an unknown file or a prototype key", async () => {
    for (const path of [
      "/docs/assets/0.0.1/swagger-ui.css",
      `/docs/assets/${SWAGGER_UI_VERSION}/index.html`,
      `/docs/assets/${SWAGGER_UI_VERSION}/constructor`,
      `/docs/assets/${SWAGGER_UI_VERSION}/__proto__`,
    ]) {
      const res = await getPublic(path);
      expect(res.status, path).toBe(404);
      expect(res.body.error.code).toBe("not_found");
    }
  });

  it("serves the exact swagger-ui-dist version package.json pins", () => {
    expect(packageJson.dependencies["swagger-ui-dist"]).toMatch(/^\d+\.\d+\.\d+$/);
    expect(SWAGGER_UI_VERSION).toBe(packageJson.dependencies["swagger-ui-dist"]);
  });
});
