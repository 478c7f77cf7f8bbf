/**
 * A tiny browser for console tests: a cookie jar, GETs, and form POSTs (urlencoded, as a browser
 * sends them) to the Worker, redirects returned rather than followed.
 */
import { exports } from "cloudflare:workers";
import { expect } from "vitest";

export interface Page {
  status: number;
  html: string;
  headers: Headers;
  location: string | null;
}

export class ConsoleBrowser {
  readonly cookies = new Map<string, string>();

  async request(
    method: string,
    path: string,
    form?: Record<string, string>,
    headers: Record<string, string> = {},
  ) {
    const h = new Headers(headers);
    if (this.cookies.size) h.set("cookie", [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; "));
    let body: string | undefined;
    if (form) {
      h.set("content-type", "application/x-www-form-urlencoded");
      body = new URLSearchParams(form).toString();
    }
    const res = await exports.default.fetch(
      new Request(`http://worker.test${path}`, { method, headers: h, body, redirect: "manual" }),
    );
    for (const line of res.headers.getSetCookie()) {
      const [pair = ""] = line.split(";");
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      if (/max-age=0/i.test(line) || value === "") this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const html = new TextDecoder().decode(await res.arrayBuffer());
    return { status: res.status, html, headers: res.headers, location: res.headers.get("location") } as Page;
  }

  get(path: string) {
    return this.request("GET", path);
  }

  post(path: string, form: Record<string, string>, headers?: Record<string, string>) {
    return this.request("POST", path, form, headers);
  }

  /** Signs in with a token through the sign-in form; expects success. */
  async signIn(token: string): Promise<void> {
    const page = await this.get("/console");
    expect(page.status).toBe(200);
    const res = await this.post("/console/sign-in", { _csrf: csrfOf(page.html), token });
    expect(res.status, res.html).toBe(303);
    expect(this.cookies.has("qpo_console")).toBe(true);
  }
}

/** The first CSRF token in a page. */
export function csrfOf(html: string): string {
  const m = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!m?.[1]) throw new Error("no CSRF token in the page");
  return m[1];
}
