CREATE TABLE `ledger_outbox` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`conference_slug` text NOT NULL,
	`purchase_order_id` integer NOT NULL,
	`kind` text NOT NULL,
	`row_id` integer NOT NULL,
	`action` text NOT NULL,
	`state` text DEFAULT 'pending' NOT NULL,
	`generation` integer DEFAULT 0 NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`attempted_at` text,
	`lease_until` text,
	`last_error` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`purchase_order_id`) REFERENCES `purchase_orders`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `ledger_outbox_row_uq` ON `ledger_outbox` (`kind`,`row_id`,`action`);--> statement-breakpoint
CREATE INDEX `ledger_outbox_po_idx` ON `ledger_outbox` (`purchase_order_id`,`state`,`id`);--> statement-breakpoint
CREATE INDEX `ledger_outbox_state_idx` ON `ledger_outbox` (`conference_slug`,`state`,`updated_at`);