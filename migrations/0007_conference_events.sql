CREATE TABLE `conference_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`conference_slug` text NOT NULL,
	`at` text NOT NULL,
	`type` text NOT NULL,
	`data` text DEFAULT '{}' NOT NULL,
	`dedupe_key` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `conference_events_dedupe_uq` ON `conference_events` (`conference_slug`,`dedupe_key`);--> statement-breakpoint
CREATE INDEX `conference_events_conference_idx` ON `conference_events` (`conference_slug`,`id`);--> statement-breakpoint
PRAGMA defer_foreign_keys = on;--> statement-breakpoint
CREATE TABLE `__new_event_deliveries` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`endpoint_id` text NOT NULL,
	`conference_slug` text NOT NULL,
	`event_id` integer,
	`conference_event_id` integer,
	`type` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at` text,
	`expires_at` text NOT NULL,
	`last_status` integer,
	`last_error` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`event_id`) REFERENCES `po_events`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`conference_event_id`) REFERENCES `conference_events`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
INSERT INTO `__new_event_deliveries`("id", "endpoint_id", "conference_slug", "event_id", "conference_event_id", "type", "status", "attempts", "next_attempt_at", "expires_at", "last_status", "last_error", "created_at", "updated_at") SELECT "id", "endpoint_id", "conference_slug", "event_id", NULL, "type", "status", "attempts", "next_attempt_at", "expires_at", "last_status", "last_error", "created_at", "updated_at" FROM `event_deliveries`;--> statement-breakpoint
DROP TABLE `event_deliveries`;--> statement-breakpoint
ALTER TABLE `__new_event_deliveries` RENAME TO `event_deliveries`;--> statement-breakpoint
CREATE UNIQUE INDEX `event_deliveries_endpoint_event_uq` ON `event_deliveries` (`endpoint_id`,`event_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `event_deliveries_endpoint_conference_event_uq` ON `event_deliveries` (`endpoint_id`,`conference_event_id`);--> statement-breakpoint
CREATE INDEX `event_deliveries_conference_idx` ON `event_deliveries` (`conference_slug`,`id`);--> statement-breakpoint
CREATE INDEX `event_deliveries_due_idx` ON `event_deliveries` (`status`,`next_attempt_at`);--> statement-breakpoint
ALTER TABLE `event_endpoints` ADD `conference_cursor` integer DEFAULT 0 NOT NULL;