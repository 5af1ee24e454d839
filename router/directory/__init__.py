"""Who the caller is outside our own history: the customer directory and the numbering plan."""
