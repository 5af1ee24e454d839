"""The people who act on a decision: their accounts and roles, the caller's card on their page when their
phone rings, their own work, and the notices that reach them (docs/people.md)."""
