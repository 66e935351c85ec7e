"""Feature history: every change to a department overlay, who made it, before and after."""
