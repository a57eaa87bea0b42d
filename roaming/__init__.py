"""OCPI 2.2.1 in the CPO role: the protocol's objects and rules, with ports; no I/O (gateway/ocpi is the edge)."""
