// The dashboard's upload: tus-js-client sends the file in chunks to /api/uploads/ (tus 1.0.0),
// resuming after a network drop (retries) or a page reload (the same file picked again), then the
// video's processing state is shown until it plays.
"use strict";

(() => {
  const form = document.getElementById("upload-form");
  if (!form || !window.tus) return;
  const { api, cookie, duration, showErrors, clearErrors } = Tidecast;
  const fileInput = document.getElementById("upload-file");
  const dropZone = document.getElementById("drop-zone");
  const fileName = document.getElementById("upload-file-name");
  const bar = document.getElementById("upload-bar");
  const stats = document.getElementById("upload-stats");
  const state = document.getElementById("upload-state");
  const pause = document.getElementById("upload-pause");
  const progress = document.getElementById("upload-progress");
  const CHUNK_BYTES = Tidecast.config("dashboard-config").uploadChunkBytes || 8 * 1024 * 1024;
  const VIDEO_KEY = "tidecast-upload-video:"; // file -> video url, for uploads resumed after a reload
  let file = null;
  let current = null;

  function choose(chosen) {
    file = chosen || null;
    fileName.textContent = file ? `${file.name} · ${(file.size / 1e6).toFixed(1)} MB` : "";
    if (file && !form.elements.title.value) form.elements.title.value = file.name.replace(/\.[^.]+$/, "").slice(0, 120);
  }

  fileInput.addEventListener("change", () => choose(fileInput.files[0]));
  dropZone.addEventListener("dragover", (event) => { event.preventDefault(); dropZone.classList.add("dragging"); });
  dropZone.addEventListener("dragleave", () => dropZone.classList.remove("dragging"));
  dropZone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropZone.classList.remove("dragging");
    if (event.dataTransfer.files.length) choose(event.dataTransfer.files[0]);
  });

  // Speed over the last few seconds, and the time left at that speed.
  function meter() {
    const samples = [];
    return (sent, total) => {
      const now = performance.now();
      samples.push([now, sent]);
      while (samples.length > 2 && now - samples[0][0] > 5000) samples.shift();
      const [t0, s0] = samples[0];
      const rate = now > t0 ? ((sent - s0) * 1000) / (now - t0) : 0;
      const left = rate > 0 ? duration((total - sent) / rate) : "–";
      return `${((100 * sent) / total).toFixed(1)} % · ${(rate / 1e6).toFixed(2)} MB/s · ${left} left`;
    };
  }

  async function watchProcessing(videoUrl) {
    for (;;) {
      const result = await api("GET", `/api/user/channel/videos/${videoUrl}`);
      if (!result.ok) { state.textContent = "The video is gone."; return; }
      const video = result.data;
      const link = `<a href="/watch/${video.url}">watch</a>`;
      if (video.status === "failed") { state.textContent = `Processing failed: ${video.error}`; return; }
      if (video.status === "ready") { state.innerHTML = `Ready: ${link}`; state.dataset.status = "ready"; return; }
      state.innerHTML = video.playable ? `Processing; it already plays: ${link}` : "Processing…";
      state.dataset.status = video.playable ? "playable" : video.status;
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    if (!file) { showErrors(form, { detail: "Pick a video file first." }); return; }
    if (!form.elements.title.value.trim()) { showErrors(form, { errors: { title: ["A title is needed."] } }); return; }
    const measure = meter();
    const fileKey = `${VIDEO_KEY}${file.name}:${file.size}:${file.lastModified}`;
    let videoUrl = "";
    const upload = new tus.Upload(file, {
      endpoint: "/api/uploads/",
      chunkSize: CHUNK_BYTES,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000, 30000],
      removeFingerprintOnSuccess: true,
      metadata: { filename: file.name, title: form.elements.title.value.trim(), description: form.elements.description.value },
      headers: { "X-CSRFToken": cookie("csrftoken") },
      onAfterResponse(request, response) {
        const header = response.getHeader("Video-Url");
        if (header) {
          videoUrl = header;
          localStorage.setItem(fileKey, header);
        }
      },
      onShouldRetry(error, attempt, options) {
        const status = error.originalResponse ? error.originalResponse.getStatus() : 0;
        if (status === 401) {
          // The access token expired during a long upload: refresh it; the retry waits a delay.
          api("POST", "/api/auth/refresh", {});
          return true;
        }
        return status === 0 || status === 423 || status >= 500 || status === 409;
      },
      onProgress(sent, total) {
        bar.value = (100 * sent) / total;
        stats.textContent = measure(sent, total);
      },
      onError(error) {
        const response = error.originalResponse;
        let detail = "The upload failed.";
        try { detail = JSON.parse(response.getBody()).detail || detail; } catch (e) { /* not JSON */ }
        showErrors(form, { detail });
        pause.hidden = true;
      },
      onSuccess() {
        pause.hidden = true;
        bar.value = 100;
        stats.textContent = "Uploaded.";
        const url = videoUrl || localStorage.getItem(fileKey) || "";
        localStorage.removeItem(fileKey);
        if (url) watchProcessing(url);
      },
    });
    current = upload;
    progress.hidden = false;
    pause.hidden = false;
    pause.textContent = "Pause";
    const previous = await upload.findPreviousUploads();
    if (previous.length) {
      upload.resumeFromPreviousUpload(previous[0]);
      state.textContent = "Resuming the earlier upload of this file.";
    }
    upload.start();
  });

  pause.addEventListener("click", () => {
    if (!current) return;
    if (pause.textContent === "Pause") { current.abort(); pause.textContent = "Resume"; }
    else { current.start(); pause.textContent = "Pause"; }
  });
})();
