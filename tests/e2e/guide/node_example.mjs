const API_KEY = process.env.AIPROD_API_KEY;
const BASE_URL = process.env.AIPROD_BASE_URL;

async function submitJob() {
  const response = await fetch(`${BASE_URL}/pipeline/run`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${API_KEY}`,
      "Content-Type": "application/json",
    },
    body: JSON.stringify({
      video_url: "https://example.com/video.mp4",
      voice_text: "Hello world",
      voice_language: "en",
      music_style: "orchestral",
    }),
  });

  const job = await response.json();
  console.log(`Job submitted: ${job.job_id}`);

  return job.job_id;
}

async function checkJobStatus(jobId) {
  const response = await fetch(`${BASE_URL}/pipeline/${jobId}`, {
    headers: { Authorization: `Bearer ${API_KEY}` },
  });

  return await response.json();
}

// Usage
const jobId = await submitJob();

let completed = false;
while (!completed) {
  const job = await checkJobStatus(jobId);
  console.log(`Status: ${job.status}`);

  if (job.status === "COMPLETED") {
    console.log(`Video: ${job.result.video_url}`);
    completed = true;
  } else if (job.status === "FAILED") {
    console.error(`Error: ${job.error}`);
    completed = true;
  }

  // Wait before polling again
  await new Promise((resolve) => setTimeout(resolve, 10000));
}
