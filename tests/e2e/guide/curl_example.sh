#!/bin/bash

API_KEY="${AIPROD_API_KEY:?}"
BASE_URL="${AIPROD_BASE_URL:?}"

# Submit job
JOB_RESPONSE=$(curl -s -X POST "$BASE_URL/pipeline/run" \
  -H "Authorization: Bearer $API_KEY" \
  -H "Content-Type: application/json" \
  -d '{
    "video_url": "https://example.com/video.mp4",
    "voice_text": "Hello world",
    "voice_language": "en",
    "music_style": "orchestral"
  }')

JOB_ID=$(echo $JOB_RESPONSE | jq -r '.job_id')
echo "Job submitted: $JOB_ID"

# Poll for completion
while true; do
  JOB=$(curl -s -X GET "$BASE_URL/pipeline/$JOB_ID" \
    -H "Authorization: Bearer $API_KEY")

  STATUS=$(echo $JOB | jq -r '.status')
  echo "Status: $STATUS"

  if [ "$STATUS" = "COMPLETED" ]; then
    VIDEO_URL=$(echo $JOB | jq -r '.result.video_url')
    echo "Video: $VIDEO_URL"
    break
  elif [ "$STATUS" = "FAILED" ]; then
    ERROR=$(echo $JOB | jq -r '.error')
    echo "Error: $ERROR"
    break
  fi

  sleep 10
done
