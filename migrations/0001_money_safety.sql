ALTER TABLE `credit_notes` ADD `voided_at` text;--> statement-breakpoint
ALTER TABLE `credit_notes` ADD `void_reason` text;--> statement-breakpoint
ALTER TABLE `payments` ADD `voided_at` text;--> statement-breakpoint
ALTER TABLE `payments` ADD `void_reason` text;--> statement-breakpoint
ALTER TABLE `purchase_orders` ADD `qbo_invoice_voided_at` text;--> statement-breakpoint
CREATE INDEX `webhook_events_received_idx` ON `webhook_events` (`received_at`);