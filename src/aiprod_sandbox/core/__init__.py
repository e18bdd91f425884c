"""The domain: accounts, jobs, clock, catalogue, ids, links. Imports nothing from HTTP."""
