CREATE TABLE `qbo_companies` (
	`realm_id` text PRIMARY KEY NOT NULL,
	`home_currency` text NOT NULL,
	`multicurrency` integer NOT NULL,
	`fetched_at` text NOT NULL
);
--> statement-breakpoint
ALTER TABLE `conferences` ADD `qbo_tax_code_id` text;--> statement-breakpoint
ALTER TABLE `conferences` ADD `qbo_allow_card` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `conferences` ADD `qbo_allow_ach` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `conferences` ADD `qbo_deposit_account_id` text;--> statement-breakpoint
ALTER TABLE `purchase_orders` ADD `tax_cents` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `purchase_orders` ADD `qbo_create_attempted_at` text;--> statement-breakpoint
ALTER TABLE `purchase_orders` ADD `qbo_exchange_rate` text;