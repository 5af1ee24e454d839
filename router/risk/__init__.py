"""Customer events and churn risk: the at-risk list built as events arrive."""
