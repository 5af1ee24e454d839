"""Missed calls become follow-ups; SMS and CRM webhooks tell people about them."""
