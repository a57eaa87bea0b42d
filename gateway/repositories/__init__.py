"""Storage by aggregate: one repository per kind of thing stored (the Store holds them)."""
