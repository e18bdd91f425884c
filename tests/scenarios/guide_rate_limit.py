"""The guide's "Handling Rate Limits" code (Rate Limiting section), byte for byte.

test_guide_code.py checks this copy against the guide; only `# noqa` comments are added.
"""

import time  # noqa: I001
import requests

def make_request_with_retry(url, headers, data=None):
    """Make request with exponential backoff"""

    for attempt in range(5):  # noqa: B007
        response = requests.post(url, headers=headers, json=data)

        if response.status_code == 429:
            # Extract retry-after header
            retry_after = int(response.headers.get('Retry-After', 60))
            print(f"Rate limited, waiting {retry_after}s...")
            time.sleep(retry_after)
            continue

        return response

    raise Exception("Failed after 5 attempts")
