"""The guide's "Error Handling Pattern" code (Error Handling section), byte for byte but for
the base of its URL: `https://api.aiprod.ai` becomes `{BASE_URL}`, the sandbox's URL.

`API_KEY` and `BASE_URL` are set by the test. test_guide_code.py checks this copy against the
guide; only `# noqa` comments are added.
"""

import requests  # noqa: I001
import time

def handle_api_request(endpoint, data=None, max_retries=3):
    """Generic API request with error handling"""

    url = f"{BASE_URL}/{endpoint}"
    headers = {"Authorization": f"Bearer {API_KEY}"}

    for attempt in range(max_retries):
        try:
            if data:
                response = requests.post(url, json=data, headers=headers)
            else:
                response = requests.get(url, headers=headers)

            # Handle rate limiting
            if response.status_code == 429:
                retry_after = int(response.headers.get('Retry-After', 60))
                print(f"Rate limited, waiting {retry_after}s")
                time.sleep(retry_after)
                continue

            # Handle client errors
            if 400 <= response.status_code < 500:
                error = response.json()
                print(f"Client error: {error['error']['message']}")
                raise ValueError(error)

            # Handle server errors with retry
            if 500 <= response.status_code < 600:
                print(f"Server error, attempt {attempt + 1}/{max_retries}")
                time.sleep(2 ** attempt)  # Exponential backoff
                continue

            # Success
            return response.json()

        except requests.RequestException as e:
            print(f"Network error: {e}")
            time.sleep(2 ** attempt)
            continue

    raise Exception(f"Failed after {max_retries} attempts")


API_KEY = "sk_test_set_by_the_test"
BASE_URL = "http://127.0.0.1:8080"  # the sandbox's URL, set by the test
