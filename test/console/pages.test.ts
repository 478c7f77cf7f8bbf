/**
 * The console's pages light up fields that other parts of the API add to their answers (the
 * read meter, missed webhooks, the refresh token's hard cap, the ledger outbox, a payment's QBO
 * state): rendered when present, "not known" before.
 */
import { jsx } from "hono/jsx/jsx-runtime";
import { describe, expect, it } from "vitest";
import { ConnectionPage } from "../../src/console/pages";
import type { ConferenceJson } from "../../src/http/schemas";

const conference = {
  slug: "lights",
  name: "Lights Conf",
  currency: "USD",
  qbo: {
    realmId: "123",
    environment: "sandbox",
    itemId: null,
    taxCodeId: null,
    allowOnlinePayment: { card: false, ach: false },
    depositAccountId: null,
    connected: true,
    needsReconnect: false,
    accessTokenExpiresAt: "2026-12-07T17:00:00.000Z",
    refreshTokenExpiresAt: "2027-03-01T00:00:00.000Z",
    lastRefreshedAt: null,
    refreshTokenHardExpiresAt: null,
    previousRealms: [],
  },
  createdAt: "2026-12-01T00:00:00.000Z",
  updatedAt: "2026-12-01T00:00:00.000Z",
} as ConferenceJson;

const base = {
  principal: { type: "deployment" as const, sid: "s" },
  csrf: "token",
  discrepancies: 0,
  failedPushes: 1,
  can: { act: true, connect: true, sync: true },
  now: Date.parse("2026-12-07T00:00:00.000Z"),
  outboxRetry: true,
};
const sync = { outstanding: 2, lastRuns: [], failures: [] };

describe("the QuickBooks page", () => {
  it("shows reads against the budget, missed webhooks, the hard cap and failed pushes when the API has them", () => {
    const html = String(
      jsx(ConnectionPage, {
        ...base,
        conference: {
          ...conference,
          qbo: { ...conference.qbo, refreshTokenHardExpiresAt: "2031-12-01T00:00:00.000Z" },
        } as ConferenceJson,
        sync: {
          ...sync,
          qboReads: { month: "2026-12", count: 1234, budget: 500000 },
          webhooksMissed: 3,
          outbox: {
            pending: 0,
            failed: [
              {
                reference: "PO-ABC123",
                kind: "payment",
                id: 7,
                action: "create",
                error: "QuickBooks said no",
                attempts: 5,
                failedAt: "2026-12-06T10:00:00.000Z",
              },
            ],
          },
        },
      }),
    );
    expect(html).toContain("1234 of 500000");
    expect(html).toMatch(/Webhooks missed[^<]*<\/th><td class="num warn">3</);
    expect(html).toContain('datetime="2031-12-01T00:00:00.000Z"');
    expect(html).toContain("(in 1820 days)");
    expect(html).toContain('href="/console/c/lights/pos/PO-ABC123"');
    expect(html).toContain("QuickBooks said no");
    expect(html).toContain('action="/console/c/lights/qbo/retry-pushes"');
  });

  it("says what it does not know yet", () => {
    const html = String(jsx(ConnectionPage, { ...base, conference, sync }));
    expect(html).toContain("not metered");
    expect(html).toContain("not counted");
    expect(html).toMatch(/5-year hard cap<\/dt><dd><span class="muted">not known/);
    expect(html).not.toContain("retry-pushes");
  });
});
