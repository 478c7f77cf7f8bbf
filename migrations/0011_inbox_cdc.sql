CREATE TABLE `cdc_changes` (
	`conference_slug` text NOT NULL,
	`realm_id` text NOT NULL,
	`entity` text NOT NULL,
	`entity_id` text NOT NULL,
	`last_updated` integer NOT NULL,
	`found_at` text NOT NULL,
	PRIMARY KEY(`conference_slug`, `realm_id`, `entity`, `entity_id`, `last_updated`)
);
--> statement-breakpoint
CREATE INDEX `cdc_changes_found_idx` ON `cdc_changes` (`found_at`);--> statement-breakpoint
CREATE TABLE `cdc_checkpoints` (
	`realm_id` text PRIMARY KEY NOT NULL,
	`checkpoint` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `webhook_deliveries` (
	`realm_id` text NOT NULL,
	`entity` text NOT NULL,
	`entity_id` text NOT NULL,
	`last_updated` integer NOT NULL,
	`received_at` text NOT NULL,
	PRIMARY KEY(`realm_id`, `entity`, `entity_id`, `last_updated`)
);
--> statement-breakpoint
CREATE INDEX `webhook_deliveries_received_idx` ON `webhook_deliveries` (`received_at`);--> statement-breakpoint
CREATE TABLE `webhook_inbox` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`received_at` text NOT NULL,
	`events` text NOT NULL,
	`leased_until` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `webhook_inbox_lease_idx` ON `webhook_inbox` (`leased_until`);--> statement-breakpoint
ALTER TABLE `webhook_events` ADD `inbox_id` integer;