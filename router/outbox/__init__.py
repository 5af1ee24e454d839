"""What leaves the router — SMS, webhooks, e-mail, messenger and CRM requests — through one durable outbox."""
