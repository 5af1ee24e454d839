"""The live wallboard: each queue now and so far today, the follow-up stack per owner, pushed to a TV page."""
