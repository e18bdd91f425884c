"""Webhook delivery over HTTP: signing, the async dispatcher, address checks, a receiver."""
