CREATE TABLE `conferences` (
	`slug` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`currency` text DEFAULT 'USD' NOT NULL,
	`qbo_realm_id` text,
	`qbo_environment` text,
	`qbo_item_id` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `conferences_realm_idx` ON `conferences` (`qbo_realm_id`);--> statement-breakpoint
CREATE TABLE `credit_notes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`purchase_order_id` integer NOT NULL,
	`amount_cents` integer NOT NULL,
	`reason` text NOT NULL,
	`created_at` text NOT NULL,
	FOREIGN KEY (`purchase_order_id`) REFERENCES `purchase_orders`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `credit_notes_po_idx` ON `credit_notes` (`purchase_order_id`);--> statement-breakpoint
CREATE TABLE `po_line_items` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`purchase_order_id` integer NOT NULL,
	`position` integer NOT NULL,
	`description` text NOT NULL,
	`quantity` integer NOT NULL,
	`unit_price_cents` integer NOT NULL,
	`line_total_cents` integer NOT NULL,
	FOREIGN KEY (`purchase_order_id`) REFERENCES `purchase_orders`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `po_line_items_po_idx` ON `po_line_items` (`purchase_order_id`,`position`);--> statement-breakpoint
CREATE TABLE `oauth_states` (
	`nonce` text PRIMARY KEY NOT NULL,
	`conference_slug` text NOT NULL,
	`expires_at` text NOT NULL,
	`used_at` text
);
--> statement-breakpoint
CREATE TABLE `payments` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`purchase_order_id` integer NOT NULL,
	`amount_cents` integer NOT NULL,
	`method` text NOT NULL,
	`reference` text DEFAULT '' NOT NULL,
	`payment_date` text NOT NULL,
	`note` text DEFAULT '' NOT NULL,
	`source` text DEFAULT 'manual' NOT NULL,
	`created_at` text NOT NULL,
	FOREIGN KEY (`purchase_order_id`) REFERENCES `purchase_orders`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `payments_po_idx` ON `payments` (`purchase_order_id`);--> statement-breakpoint
CREATE TABLE `purchase_orders` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`reference` text NOT NULL,
	`conference_slug` text NOT NULL,
	`status` text DEFAULT 'draft' NOT NULL,
	`organization_name` text NOT NULL,
	`contact_name` text NOT NULL,
	`contact_email` text NOT NULL,
	`billing_address` text DEFAULT '' NOT NULL,
	`notes` text DEFAULT '' NOT NULL,
	`total_cents` integer NOT NULL,
	`qbo_create_claimed_at` text,
	`qbo_invoice_id` text,
	`qbo_realm_id` text,
	`qbo_customer_id` text,
	`qbo_doc_number` text,
	`qbo_invoice_url` text,
	`qbo_payment_link` text,
	`qbo_total_cents` integer,
	`qbo_balance_cents` integer,
	`qbo_email_status` text,
	`qbo_last_synced_at` text,
	`qbo_discrepancy_kind` text,
	`qbo_discrepancy_message` text,
	`qbo_discrepancy_at` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`conference_slug`) REFERENCES `conferences`(`slug`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `purchase_orders_reference_uq` ON `purchase_orders` (`reference`);--> statement-breakpoint
CREATE INDEX `purchase_orders_conference_status_idx` ON `purchase_orders` (`conference_slug`,`status`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `purchase_orders_qbo_invoice_uq` ON `purchase_orders` (`qbo_realm_id`,`qbo_invoice_id`);--> statement-breakpoint
CREATE TABLE `qbo_customers` (
	`conference_slug` text NOT NULL,
	`realm_id` text NOT NULL,
	`organization_key` text NOT NULL,
	`customer_id` text NOT NULL,
	`created_at` text NOT NULL,
	PRIMARY KEY(`conference_slug`, `realm_id`, `organization_key`)
);
--> statement-breakpoint
CREATE TABLE `sync_failures` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`message_key` text NOT NULL,
	`conference_slug` text,
	`realm_id` text,
	`invoice_ids` text DEFAULT '[]' NOT NULL,
	`error` text NOT NULL,
	`attempts` integer NOT NULL,
	`failed_at` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `sync_failures_message_key_unique` ON `sync_failures` (`message_key`);--> statement-breakpoint
CREATE INDEX `sync_failures_conference_idx` ON `sync_failures` (`conference_slug`,`id`);--> statement-breakpoint
CREATE TABLE `sync_message_errors` (
	`message_key` text PRIMARY KEY NOT NULL,
	`error` text NOT NULL,
	`attempts` integer NOT NULL,
	`updated_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `sync_runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`conference_slug` text NOT NULL,
	`trigger` text NOT NULL,
	`started_at` text NOT NULL,
	`finished_at` text,
	`invoices_checked` integer DEFAULT 0 NOT NULL,
	`payments_recorded` integer DEFAULT 0 NOT NULL,
	`qbo_requests` integer DEFAULT 0 NOT NULL,
	`d1_statements` integer DEFAULT 0 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `sync_runs_conference_idx` ON `sync_runs` (`conference_slug`,`id`);--> statement-breakpoint
CREATE TABLE `webhook_events` (
	`event_key` text PRIMARY KEY NOT NULL,
	`realm_id` text NOT NULL,
	`received_at` text NOT NULL
);
