/** A QBO company's remembered settings (one row per realm; see services/qbo-company.ts). */
import { eq } from "drizzle-orm";
import type { Db } from "./client";
import { qboCompanies } from "./schema";

export type QboCompanyRow = typeof qboCompanies.$inferSelect;

export async function findQboCompany(db: Db, realmId: string): Promise<QboCompanyRow | undefined> {
  return db.select().from(qboCompanies).where(eq(qboCompanies.realmId, realmId)).get();
}

export async function rememberQboCompany(db: Db, row: QboCompanyRow): Promise<void> {
  await db
    .insert(qboCompanies)
    .values(row)
    .onConflictDoUpdate({
      target: qboCompanies.realmId,
      set: { homeCurrency: row.homeCurrency, multicurrency: row.multicurrency, fetchedAt: row.fetchedAt },
    });
}
