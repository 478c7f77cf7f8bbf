/** The rate budget's arithmetic (src/budget/window.ts), without a Durable Object. */
import { describe, expect, it } from "vitest";
import {
  BookingWindow,
  crossedThresholds,
  MINUTE_MS,
  MINUTE_SLACK_MS,
  monthOf,
  SECOND_MS,
  SECOND_SLACK_MS,
} from "../../src/budget/window";

const LIMITS = { perSecond: 10, perMinute: 500 };

describe("the booking window", () => {
  it("books 10 at once, then the 11th a second (plus slack) after the first", () => {
    const w = new BookingWindow();
    const slots = Array.from({ length: 11 }, () => w.book(1_000_000, LIMITS));
    expect(slots.slice(0, 10)).toEqual(Array(10).fill(1_000_000));
    expect(slots[10]).toBe(1_000_000 + SECOND_MS + SECOND_SLACK_MS);
  });

  it("never lets more than 500 into any minute, nor 10 into any second", () => {
    const w = new BookingWindow();
    const slots = Array.from({ length: 1_200 }, () => w.book(0, LIMITS));
    for (let i = 10; i < slots.length; i++) expect(slots[i]! - slots[i - 10]!).toBeGreaterThan(SECOND_MS);
    for (let i = 500; i < slots.length; i++) expect(slots[i]! - slots[i - 500]!).toBeGreaterThan(MINUTE_MS);
    expect(slots[500]).toBe(MINUTE_MS + MINUTE_SLACK_MS);
  });

  it("gives a missed slot back, and spreads refused callers one slot interval apart", () => {
    const w = new BookingWindow();
    for (let i = 0; i < 10; i++) w.book(0, LIMITS);
    w.release(0);
    expect(w.peek(0, LIMITS)).toBe(0);
    w.book(0, LIMITS);
    const first = w.peek(0, LIMITS);
    expect([w.promise(first, LIMITS), w.promise(first, LIMITS)]).toEqual([first, first + 120]);
  });

  it("moves a booking a slow answer says may have been counted later, pushing the next window back", () => {
    const w = new BookingWindow();
    const onePerSecond = { perSecond: 1, perMinute: 500 };
    w.book(0, onePerSecond);
    w.move(0, 700);
    expect(w.peek(0, onePerSecond)).toBe(700 + SECOND_MS + SECOND_SLACK_MS);
  });
});

describe("a slot asked again on waking (stillFits)", () => {
  const onePerSecond = { perSecond: 1, perMinute: 500 };

  it("stands when nothing moved, and is refused once an earlier request is known to have left late", () => {
    const w = new BookingWindow();
    expect(w.book(0, onePerSecond)).toBe(0);
    const later = w.book(0, onePerSecond); // booked ahead, while the first was still in flight
    expect(later).toBe(SECOND_MS + SECOND_SLACK_MS);
    expect(w.stillFits(later, later, onePerSecond)).toBe(true);
    // The first request's answer came 400 ms late: QBO may have counted it at 400.
    w.move(0, 400);
    expect(w.stillFits(later, later, onePerSecond)).toBe(false);
    w.release(later);
    expect(w.book(later, onePerSecond)).toBe(400 + SECOND_MS + SECOND_SLACK_MS);
  });

  it("weighs only the bookings at or before its own, and refuses a slot no longer booked", () => {
    const w = new BookingWindow();
    const first = w.book(0, onePerSecond);
    const second = w.book(0, onePerSecond);
    w.book(0, onePerSecond); // a third, after the second: it will ask for itself
    expect(w.stillFits(first, 0, onePerSecond)).toBe(true);
    expect(w.stillFits(second, second, onePerSecond)).toBe(true);
    expect(w.stillFits(123, 0, onePerSecond)).toBe(false);
  });
});

describe("the monthly read meter", () => {
  it("crosses 80% and 100% exactly once each", () => {
    const crossings = Array.from({ length: 12 }, (_, i) => crossedThresholds(i, i + 1, 10));
    expect(crossings.flatMap((c, i) => c.map((t) => [i + 1, t]))).toEqual([
      [8, 80],
      [10, 100],
    ]);
    expect(crossedThresholds(0, 1, 1)).toEqual([80, 100]);
    expect(monthOf(Date.UTC(2026, 11, 31, 23, 59))).toBe("2026-12");
  });
});
