ALTER TABLE `sync_runs` ADD `credit_notes_recorded` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `sync_runs` ADD `ledger_fallback` text;