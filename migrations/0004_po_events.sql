CREATE TABLE `po_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`purchase_order_id` integer NOT NULL,
	`conference_slug` text NOT NULL,
	`at` text NOT NULL,
	`type` text NOT NULL,
	`actor_type` text NOT NULL,
	`actor_id` text,
	`actor_name` text,
	`request_id` text,
	`data` text DEFAULT '{}' NOT NULL,
	FOREIGN KEY (`purchase_order_id`) REFERENCES `purchase_orders`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `po_events_po_idx` ON `po_events` (`purchase_order_id`,`id`);--> statement-breakpoint
CREATE INDEX `po_events_conference_idx` ON `po_events` (`conference_slug`,`id`);