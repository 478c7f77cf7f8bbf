ALTER TABLE `credit_notes` ADD `source` text DEFAULT 'manual' NOT NULL;--> statement-breakpoint
ALTER TABLE `credit_notes` ADD `qbo_id` text;--> statement-breakpoint
ALTER TABLE `credit_notes` ADD `qbo_state` text;--> statement-breakpoint
ALTER TABLE `credit_notes` ADD `qbo_error` text;--> statement-breakpoint
CREATE INDEX `credit_notes_qbo_idx` ON `credit_notes` (`qbo_id`);--> statement-breakpoint
ALTER TABLE `payments` ADD `qbo_id` text;--> statement-breakpoint
ALTER TABLE `payments` ADD `qbo_state` text;--> statement-breakpoint
ALTER TABLE `payments` ADD `qbo_error` text;--> statement-breakpoint
CREATE INDEX `payments_qbo_idx` ON `payments` (`qbo_id`);--> statement-breakpoint
UPDATE `payments` SET `qbo_state` = 'synced' WHERE `source` = 'qbo';
