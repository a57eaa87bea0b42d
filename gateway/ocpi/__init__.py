"""The OCPI 2.2.1 edge: the /ocpi routes, the HTTP client to partners and the durable push queue."""
