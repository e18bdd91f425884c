import requests
import json

API_KEY = __import__("os").environ["AIPROD_API_KEY"]
BASE_URL = __import__("os").environ["AIPROD_BASE_URL"]

headers = {
    "Authorization": f"Bearer {API_KEY}",
    "Content-Type": "application/json"
}

# Submit job
response = requests.post(
    f"{BASE_URL}/pipeline/run",
    headers=headers,
    json={
        "video_url": "https://example.com/video.mp4",
        "voice_text": "Hello world",
        "voice_language": "en",
        "music_style": "orchestral",
        "preset": "brand_campaign"
    }
)

job_data = response.json()
job_id = job_data["job_id"]
print(f"Job submitted: {job_id}")

# Poll for completion
import time

while True:
    response = requests.get(
        f"{BASE_URL}/pipeline/{job_id}",
        headers=headers
    )

    job = response.json()
    print(f"Status: {job['status']}")

    if job['status'] == 'COMPLETED':
        print(f"Result: {job['result']['video_url']}")
        break
    elif job['status'] == 'FAILED':
        print(f"Error: {job['error']}")
        break

    time.sleep(10)
