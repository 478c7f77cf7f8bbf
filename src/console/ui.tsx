/** @jsxImportSource hono/jsx */
/**
 * The console's building blocks: the page layout, money, badges, and the form wrapper that
 * carries the CSRF token and an Idempotency-Key generated at render time (a double-submitted
 * form is answered once by the API, SPEC §11). Hono JSX escapes every text and attribute.
 */
import type { Child } from "hono/jsx";
import { CSS_PATH } from "./assets";
import type { Principal } from "./session";

export type Section = "home" | "summary" | "connection" | "pos";

export interface LayoutProps {
  title: string;
  principal?: Principal | undefined;
  csrf?: string | undefined;
  conference?: { slug: string; name: string } | undefined;
  section?: Section | undefined;
  notice?: Notice | undefined;
  /** A narrow, centred page (sign in). */
  narrow?: boolean;
  children?: Child;
}

export interface Notice {
  kind: "info" | "error" | "warning";
  text: string;
}

export function Layout(props: LayoutProps) {
  const conf = props.conference;
  const nav = conf
    ? [
        { href: `/console/c/${conf.slug}`, label: "Summary", section: "summary" },
        { href: `/console/c/${conf.slug}/qbo`, label: "QuickBooks", section: "connection" },
        { href: `/console/c/${conf.slug}/pos`, label: "Purchase orders", section: "pos" },
      ]
    : [];
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · PO console`}</title>
        <link rel="stylesheet" href={CSS_PATH} />
      </head>
      <body>
        <a class="skip" href="#main">
          Skip to content
        </a>
        <header class="top">
          <a class="brand" href="/console">
            PO console
          </a>
          {conf ? (
            <nav aria-label={`${conf.name}`}>
              <ul>
                {nav.map((n) => (
                  <li>
                    <a href={n.href} aria-current={props.section === n.section ? "page" : undefined}>
                      {n.label}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
          ) : null}
          {props.principal && props.csrf ? (
            <div class="who">
              <span>
                {props.principal.type === "deployment"
                  ? "Deployment token"
                  : `${props.principal.name} (${props.principal.role})`}
              </span>
              <form class="inline" method="post" action="/console/sign-out">
                <input type="hidden" name="_csrf" value={props.csrf} />
                <button type="submit">Sign out</button>
              </form>
            </div>
          ) : null}
        </header>
        <main id="main" tabindex={-1} class={props.narrow ? "narrow" : undefined}>
          <h1>{props.title}</h1>
          {props.notice ? <NoticeBox notice={props.notice} /> : null}
          {props.children}
        </main>
      </body>
    </html>
  );
}

export function NoticeBox({ notice }: { notice: Notice }) {
  return (
    <div
      class={`notice ${notice.kind === "info" ? "" : notice.kind}`}
      role={notice.kind === "error" ? "alert" : "status"}
    >
      {notice.text}
    </div>
  );
}

/** "1234567.50" → "1,234,567.50": grouping on the decimal string itself, never through a float. */
export function groupDigits(decimal: string): string {
  const m = /^(-?)(\d+)(\.\d+)?$/.exec(decimal);
  if (!m) return decimal;
  return `${m[1]}${(m[2] ?? "").replace(/\B(?=(\d{3})+(?!\d))/g, ",")}${m[3] ?? ""}`;
}

/** Money in a right-aligned cell, with its currency. */
export function MoneyCell({ value, currency }: { value: string | null | undefined; currency: string }) {
  return (
    <td class="num">
      {value == null ? (
        <span class="muted">—</span>
      ) : (
        <>
          {groupDigits(value)}
          <span class="cur">{currency}</span>
        </>
      )}
    </td>
  );
}

export function Money({ value, currency }: { value: string; currency: string }) {
  return (
    <span class="num">
      {groupDigits(value)}
      <span class="cur">{currency}</span>
    </span>
  );
}

export function Badge({ value, label }: { value: string; label?: string }) {
  return <span class={`badge st-${value}`}>{label ?? value.replace(/_/g, " ")}</span>;
}

/** A UTC instant shown as `YYYY-MM-DD HH:MM UTC`, machine-readable in `datetime`. */
export function When({ at }: { at: string | null | undefined }) {
  if (!at) return <span class="muted">—</span>;
  const text = at.length >= 16 ? `${at.slice(0, 10)} ${at.slice(11, 16)} UTC` : at;
  return <time datetime={at}>{text}</time>;
}

/** A POST form with the session's CSRF token and a fresh Idempotency-Key. */
export function ActionForm(props: {
  action: string;
  csrf: string;
  class?: string;
  label?: string;
  children?: Child;
}) {
  return (
    <form method="post" action={props.action} class={props.class} aria-label={props.label}>
      <input type="hidden" name="_csrf" value={props.csrf} />
      <input type="hidden" name="_idem" value={crypto.randomUUID()} />
      {props.children}
    </form>
  );
}
