"""Usage ledger, price plans, Stripe sync, webhooks and invoices (issue 6)."""
