"""The guide's own receiver-side check, copied verbatim from its section "Verify Webhook
Signature", for the suites that test deliveries the way a partner's receiver sees them. (The
partner suite keeps its own copy: it stands alone, as a partner's code would.)"""

import hashlib
import hmac


# fmt: off
def verify_webhook(payload_bytes, signature, secret):
    """Verify webhook signature"""
    expected_sig = hmac.new(
        secret.encode(),
        payload_bytes,
        hashlib.sha256
    ).hexdigest()

    return hmac.compare_digest(signature, expected_sig)
# fmt: on
