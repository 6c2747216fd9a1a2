// The player: hls.js with a quality menu, a LIVE badge and "go to live", and recovery when the
// stream drops (manifest retried with backoff) or restarts as a new video on the same channel.
// Live video plays in hls.js's low-latency mode (parts, blocking reloads, preload hints): it holds
// the playlist's PART-HOLD-BACK behind the edge and plays a little faster to get back there.
"use strict";

(() => {
  const config = Tidecast.config("player-config");
  const video = document.getElementById("video");
  const message = document.getElementById("player-message");
  const quality = document.getElementById("quality");
  const liveBadge = document.getElementById("live-badge");
  const goLive = document.getElementById("go-live");
  const viewerCount = document.getElementById("viewer-count");
  const statusText = document.getElementById("video-status");
  const titleText = document.getElementById("video-title");

  const POLL_MS = 3000;
  const RETRY_MIN_MS = 1000;
  const RETRY_MAX_MS = 10000;
  const RECORDING_MAX_FAILURES = 4;
  // How far behind the live sync position (the hold-back) "go live" is offered, in seconds.
  const BEHIND_LIVE_SECONDS = 2;
  // The catch-up rate of a viewer who fell behind (hls.js plays at up to this rate until back).
  const MAX_LIVE_SYNC_RATE = 1.5;

  const current = { url: config.url, status: config.status, playbackUrl: config.playbackUrl };
  // A private video plays through a playback token (POST tokenApi), renewed before it expires;
  // every playlist and segment request takes the newest one, so playback never stops at an expiry.
  const TOKEN_PATH = /\/hls-live\/t\/[^/]+\//;
  const TOKEN_RENEW_SHARE = 0.8;
  const TOKEN_RETRY_MS = 10000;
  let playbackToken = null; // the "t/<token>/" part of the newest playback URL
  let tokenTimer = null;
  // Opened on a live or upcoming stream: follow the channel when the stream ends and comes back.
  const followChannel = config.status !== "ended";
  let hls = null;
  let retryTimer = null;
  let retryDelay = RETRY_MIN_MS;
  let failures = 0;
  let mediaRecoveries = 0;
  let playingLive = false;
  let preferredRendition = null; // kept across restarts

  function say(text) {
    message.textContent = text || "";
    message.hidden = !text;
  }

  function renditionName(level) {
    const uri = level.uri || level.url || "";
    const match = /\/([^/?#]+)\/[^/?#]+\.m3u8/.exec(typeof uri === "string" ? uri : uri[0] || "");
    return match ? decodeURIComponent(match[1]) : "";
  }

  function levelLabel(level) {
    const name = renditionName(level);
    const height = level.height ? `${level.height}p` : "";
    if (name === "source") return height ? `Source (${height})` : "Source";
    return height || name || `${Math.round(level.bitrate / 1000)} kbps`;
  }

  function fillQuality() {
    const levels = hls.levels.map((level, index) => ({ level, index }));
    levels.sort((a, b) => (b.level.height || 0) - (a.level.height || 0) || b.level.bitrate - a.level.bitrate);
    const options = [new Option("Auto", "-1")];
    for (const { level, index } of levels) {
      const option = new Option(levelLabel(level), String(index));
      option.dataset.rendition = renditionName(level);
      option.dataset.height = String(level.height || 0);
      options.push(option);
    }
    quality.replaceChildren(...options);
    quality.disabled = levels.length < 2;
    const preferred = options.find((o) => preferredRendition && o.dataset.rendition === preferredRendition);
    if (preferred) {
      quality.value = preferred.value;
      hls.currentLevel = Number(preferred.value);
    } else {
      quality.value = "-1";
    }
  }

  quality.addEventListener("change", () => {
    if (!hls) return;
    const index = Number(quality.value);
    preferredRendition = index >= 0 ? quality.selectedOptions[0].dataset.rendition : null;
    hls.currentLevel = index; // -1 hands the choice back to the bandwidth estimate
  });

  function showAutoChoice(levelIndex) {
    const auto = quality.options[0];
    const level = hls && hls.levels[levelIndex];
    auto.textContent = hls && hls.autoLevelEnabled && level ? `Auto (${levelLabel(level)})` : "Auto";
  }

  function behindLive() {
    return (
      playingLive &&
      hls &&
      hls.liveSyncPosition != null &&
      hls.liveSyncPosition - video.currentTime > BEHIND_LIVE_SECONDS
    );
  }

  video.addEventListener("timeupdate", () => {
    const behind = behindLive();
    goLive.hidden = !behind;
    liveBadge.classList.toggle("badge-behind", behind);
  });

  goLive.addEventListener("click", () => {
    if (hls && hls.liveSyncPosition != null) video.currentTime = hls.liveSyncPosition;
    video.play().catch(() => {});
  });

  async function mintToken() {
    let result = await Tidecast.api("POST", config.tokenApi);
    if (result.status === 404) {
      // The access token may have expired (this endpoint answers anonymously then): refresh once.
      const refreshed = await Tidecast.api("POST", "/api/auth/refresh", {});
      if (refreshed.ok) result = await Tidecast.api("POST", config.tokenApi);
    }
    if (!result.ok || !result.data || !result.data.playback_url) return false;
    const match = TOKEN_PATH.exec(result.data.playback_url);
    if (!match) return false;
    playbackToken = match[0];
    current.playbackUrl = result.data.playback_url;
    const left = Date.parse(result.data.expires_at) - Date.now();
    clearTimeout(tokenTimer);
    tokenTimer = setTimeout(renewToken, Math.max(1000, left * TOKEN_RENEW_SHARE));
    return true;
  }

  async function renewToken() {
    if (!(await mintToken())) tokenTimer = setTimeout(renewToken, TOKEN_RETRY_MS);
  }

  function withToken(url) {
    return playbackToken ? url.replace(TOKEN_PATH, playbackToken) : url;
  }

  function stop() {
    clearTimeout(retryTimer);
    retryTimer = null;
    if (hls) {
      hls.destroy();
      hls = null;
    }
  }

  function play() {
    const attempt = video.play();
    if (attempt) attempt.catch(() => say("Press play to start."));
  }

  async function start() {
    stop();
    if (current.status === "scheduled") {
      say("This stream has not started yet. It plays here as soon as it goes live.");
      return;
    }
    if (config.private && current.url === config.url && !(await mintToken())) {
      say("This private video cannot be played right now. Sign in again to watch it.");
      return;
    }
    if (!window.Hls || !Hls.isSupported()) {
      if (video.canPlayType("application/vnd.apple.mpegurl")) {
        video.src = current.playbackUrl;
        play();
      } else {
        say("This browser cannot play this video.");
      }
      return;
    }
    say(current.status === "live" ? "Connecting…" : "Loading the recording…");
    hls = new Hls({
      lowLatencyMode: current.status !== "ended",
      maxLiveSyncPlaybackRate: MAX_LIVE_SYNC_RATE,
      // No liveSyncDuration(Count) or liveMaxLatencyDurationCount here: set by the page, hls.js
      // would hold that far back instead of the playlist's PART-HOLD-BACK (its defaults, three
      // target durations behind and no maximum, serve playlists without parts).
      manifestLoadingMaxRetry: 1,
      levelLoadingMaxRetry: 4,
      fragLoadingMaxRetry: 6,
      backBufferLength: 60,
      // The newest playback token on every request (a no-op for public videos).
      xhrSetup: (xhr, url) => {
        if (playbackToken) xhr.open("GET", withToken(url), true);
      },
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => {
      retryDelay = RETRY_MIN_MS;
      failures = 0;
      mediaRecoveries = 0;
      fillQuality();
      say("");
      play();
    });
    hls.on(Hls.Events.LEVEL_LOADED, (event, data) => {
      playingLive = Boolean(data.details.live);
      liveBadge.hidden = !playingLive;
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, (event, data) => showAutoChoice(data.level));
    hls.on(Hls.Events.ERROR, (event, data) => {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries < 2) {
        mediaRecoveries += 1;
        hls.recoverMediaError();
        return;
      }
      retryLater();
    });
    hls.loadSource(current.playbackUrl);
    hls.attachMedia(video);
  }

  // A fatal error: ask the API what became of the video, then load again after a growing pause.
  function retryLater() {
    stop();
    failures += 1;
    if (current.status === "ended" && !followChannel && failures > RECORDING_MAX_FAILURES) {
      say("This recording is not available right now.");
      return;
    }
    say(current.status === "live" ? "Reconnecting…" : "Loading…");
    const delay = retryDelay;
    retryDelay = Math.min(retryDelay * 2, RETRY_MAX_MS);
    retryTimer = setTimeout(async () => {
      await refresh();
      if (!hls && !(current.status === "ended" && followChannel && failures > 1)) start();
      else if (!hls) say("The stream has ended. This page picks it up again when it comes back.");
    }, delay);
  }

  function describe(data) {
    if (data.status === "live") return "· live";
    if (data.status === "ended") return "· this stream has ended; you are watching the recording";
    return "· not started yet";
  }

  function switchTo(liveVideo) {
    current.url = liveVideo.url;
    current.status = "live";
    current.playbackUrl = liveVideo.playback_url || config.playbackUrl.replace(`${config.url}.m3u8`, `${liveVideo.url}.m3u8`);
    history.replaceState(null, "", `/watch/${encodeURIComponent(liveVideo.url)}`);
    if (liveVideo.title) {
      titleText.textContent = liveVideo.title;
      document.title = `${liveVideo.title} · Tidecast`;
    }
    statusText.textContent = "· live";
    retryDelay = RETRY_MIN_MS;
    failures = 0;
    start();
  }

  // Keeps status and audience current; finds the channel's next live video once this one ended.
  async function refresh() {
    const result = await Tidecast.api("GET", `/api/videos/${encodeURIComponent(current.url)}`);
    if (result.ok && result.data) {
      const before = current.status;
      current.status = result.data.status || before;
      statusText.dataset.status = current.status;
      statusText.textContent = describe(result.data);
      const live = current.status === "live";
      viewerCount.hidden = !live;
      if (live) viewerCount.textContent = `${result.data.viewer_count || 0} watching`;
      if (before === "scheduled" && live) start();
    }
    if (followChannel && current.status === "ended") {
      const channel = await Tidecast.api("GET", `/api/channels/${encodeURIComponent(config.channel)}`);
      const next = channel.ok && channel.data && channel.data.live_video;
      if (next && next.url && next.url !== current.url) switchTo(next);
    }
  }

  video.addEventListener("ended", () => {
    if (followChannel && current.status !== "live") {
      say("The stream has ended. This page picks it up again when it comes back.");
    }
  });

  if (followChannel) {
    setInterval(refresh, POLL_MS);
  }
  start();
})();
