import { expect, it } from "vitest";
import { call, unique } from "../helpers";

it("probe", async () => {
  const out: string[] = [];
  for (let i = 0; i < 50; i++) {
    const slug = unique("race");
    const results = await Promise.all([
      call("PUT", `/api/conferences/${slug}`, { name: "One" }),
      call("PUT", `/api/conferences/${slug}`, { name: "Two" }),
    ]);
    out.push(results.map((r) => `${r.status}:${r.body.createdAt}/${r.body.updatedAt}`).join(" "));
  }
  console.log(out.filter((o) => !o.includes("200")).join("\n") || "all fine");
  expect(1).toBe(1);
});
