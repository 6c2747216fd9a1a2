// The streamer's dashboard: channel, stream key (hidden until asked), OBS settings, the next
// stream, live health with plain warnings, restreaming destinations with their live status, and the
// profile picture. Everything goes through the API.
"use strict";

(() => {
  const config = Tidecast.config("dashboard-config");
  const limits = config.healthLimits;
  const $ = (id) => document.getElementById(id);
  const el = Tidecast.element;
  const HEALTH_POLL_MS = 3000;

  let streamKey = ""; // kept out of the page until the owner asks to see or copy it
  let keyVisible = false;
  let healthTimer = null;

  function fail(result) {
    $("dash-loading").hidden = true;
    const error = $("dash-error");
    error.textContent = (result.data && result.data.detail) || "Something went wrong.";
    error.hidden = false;
  }

  function toLogin() {
    window.location.assign(`${config.loginUrl}?next=${encodeURIComponent(window.location.pathname)}`);
  }

  // Domain errors of the API that belong to one field of the dashboard's forms.
  const CODE_FIELDS = {
    invalid_name: "name", name_taken: "name", channel_exists: "name",
    invalid_image: "image", unsupported_image: "image", image_too_large: "image", image_too_many_pixels: "image",
    invalid_destination: "url", too_many_destinations: "url",
  };

  function fieldsOf(form) {
    const image = form.id === "video-form" ? "thumbnail" : "image";
    const fields = {};
    for (const [code, field] of Object.entries(CODE_FIELDS)) fields[code] = field === "image" ? image : field;
    return fields;
  }

  function onSubmit(form, handler) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      Tidecast.clearErrors(form);
      const success = form.querySelector("[data-success]");
      if (success) success.hidden = true;
      try {
        const result = await handler(new FormData(form));
        if (result.status === 401) return toLogin();
        if (!result.ok) Tidecast.showErrors(form, result.data, fieldsOf(form));
      } finally {
        button.disabled = false;
      }
    });
  }

  // --- stream key -------------------------------------------------------------------------------
  function showKey() {
    const input = $("stream-key");
    input.value = keyVisible ? streamKey : "";
    input.type = keyVisible ? "text" : "password";
    input.placeholder = keyVisible ? "" : "hidden";
    $("reveal-key").textContent = keyVisible ? "Hide key" : "Show key";
  }

  function keyStatus(text) {
    $("key-status").textContent = text;
  }

  async function copyText(text) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch (error) {
      const scratch = el("textarea", { class: "offscreen", "aria-hidden": "true" });
      scratch.value = text;
      document.body.append(scratch);
      scratch.select();
      const copied = document.execCommand("copy");
      scratch.remove();
      return copied;
    }
  }

  $("reveal-key").addEventListener("click", () => {
    keyVisible = !keyVisible;
    showKey();
  });

  $("copy-key").addEventListener("click", async () => {
    keyStatus((await copyText(streamKey)) ? "Stream key copied." : "Copy failed: show the key and copy it by hand.");
  });

  $("copy-server").addEventListener("click", async () => {
    keyStatus((await copyText($("ingest-url").textContent)) ? "Server URL copied." : "Copy failed.");
  });

  $("rotate-key").addEventListener("click", async () => {
    if (!window.confirm("Rotate the stream key? The old key stops working at once and a live stream on it is cut.")) return;
    const result = await Tidecast.api("POST", "/api/user/channel/stream-key");
    if (result.status === 401) return toLogin();
    if (!result.ok) return keyStatus((result.data && result.data.detail) || "Rotation failed.");
    streamKey = result.data.stream_key;
    showKey();
    keyStatus("New key made. Paste it into OBS before you stream again.");
  });

  // --- channel ------------------------------------------------------------------------------------
  function showChannel(channel) {
    streamKey = channel.stream_key || "";
    $("create-channel").hidden = true;
    $("channel-area").hidden = false;
    const link = $("channel-link");
    link.href = `/c/${encodeURIComponent(channel.name)}`;
    link.textContent = channel.title || channel.name;
    $("ingest-url").textContent = channel.ingest_url || "";
    showKey();
    loadVideos();
    loadProfile();
  }

  // --- restreaming destinations -------------------------------------------------------------------
  const DESTINATION_LABELS = { idle: "idle", connecting: "connecting…", live: "live", failed: "failed" };

  function renderDestinations(destinations) {
    $("destinations-empty").hidden = destinations.length > 0;
    $("destination-list").replaceChildren(...destinations.map((destination) => {
      const status = destination.enabled ? destination.status : "off";
      const toggle = el("button", { type: "button", class: "small", "data-action": "toggle" },
        destination.enabled ? "Disable" : "Enable");
      toggle.addEventListener("click", () => changeDestination(destination, "PATCH", { enabled: !destination.enabled }));
      const remove = el("button", { type: "button", class: "small danger", "data-action": "remove" }, "Remove");
      remove.addEventListener("click", () => {
        if (window.confirm("Remove this destination? Your stream stops going there at once.")) {
          changeDestination(destination, "DELETE");
        }
      });
      const item = el("li", { "data-id": destination.id, "data-status": status },
        el("span", { class: `pill pill-${status}` }, DESTINATION_LABELS[status] || status), " ",
        el("code", {}, destination.url), toggle, remove);
      if (destination.enabled && destination.status === "failed" && destination.last_error) {
        item.append(el("p", { class: "destination-error" }, destination.last_error));
      }
      return item;
    }));
  }

  async function loadDestinations() {
    const result = await Tidecast.api("GET", "/api/user/channel/destinations");
    if (result.status === 401) return toLogin();
    if (result.ok) renderDestinations(result.data);
  }

  async function changeDestination(destination, method, body) {
    const result = await Tidecast.api(method, `/api/user/channel/destinations/${encodeURIComponent(destination.id)}`, body);
    if (result.status === 401) return toLogin();
    await loadDestinations();
  }

  onSubmit($("destination-form"), async (data) => {
    const result = await Tidecast.api("POST", "/api/user/channel/destinations", { url: String(data.get("url") || "").trim() });
    if (result.ok) {
      $("destination-form").reset(); // the key leaves the page with the form's value
      loadDestinations();
    }
    return result;
  });

  onSubmit($("channel-form"), async (data) => {
    const result = await Tidecast.api("POST", "/api/user/channel", Object.fromEntries(data));
    if (result.ok) showChannel(result.data);
    return result;
  });

  // --- videos and health --------------------------------------------------------------------------
  function statusLabel(status) {
    return { live: "live", ended: "recorded", scheduled: "scheduled" }[status] || status;
  }

  function renderVideos(videos) {
    $("video-list").replaceChildren(...videos.map((video) => el("li", { "data-status": video.status },
      el("span", { class: `pill pill-${video.status}` }, statusLabel(video.status)), " ",
      video.status === "scheduled" ? el("span", {}, video.title)
        : el("a", { href: `/watch/${encodeURIComponent(video.url)}` }, video.title))));
  }

  // The owner's video list drives both the list and the health panel; it is polled while live.
  async function loadVideos() {
    clearTimeout(healthTimer);
    const result = await Tidecast.api("GET", "/api/user/channel/videos");
    if (result.status === 401) return toLogin();
    if (result.ok) {
      const videos = Array.isArray(result.data) ? result.data : result.data.results || [];
      renderVideos(videos);
      const live = videos.find((video) => video.status === "live");
      $("health-offline").hidden = Boolean(live);
      $("health-live").hidden = !live;
      if (live) await showHealth(live);
      await loadDestinations(); // their status follows the stream
    }
    healthTimer = setTimeout(loadVideos, HEALTH_POLL_MS);
  }

  function number(value, digits) {
    return typeof value === "number" && Number.isFinite(value) ? value.toFixed(digits) : null;
  }

  // Plain-language warnings from the stats the ingest reports; `limits` come from the server settings.
  function healthWarnings(stats) {
    const warnings = [];
    const keyframe = stats.keyframe_interval;
    if (typeof keyframe === "number" && Math.abs(keyframe - limits.keyframe_interval_seconds) > limits.keyframe_tolerance_seconds) {
      warnings.push(`Keyframes arrive every ${keyframe.toFixed(1)} s; set the keyframe interval to ${limits.keyframe_interval_seconds} s in OBS (Output → Keyframe Interval), or playback starts late and quality switches stutter.`);
    }
    if (typeof stats.bitrate_kbps === "number" && stats.bitrate_kbps > limits.max_bitrate_kbps) {
      warnings.push(`The incoming bitrate (${Math.round(stats.bitrate_kbps)} kbps) is too high for the quality ladder (top rendition ${limits.top_rung_kbps} kbps): viewers on Source will buffer. Use CBR at ${limits.max_bitrate_kbps} kbps or less.`);
    }
    if (typeof stats.transcoder_speed === "number" && stats.transcoder_speed < limits.min_transcoder_speed) {
      warnings.push(`The transcoder runs slower than real time (${stats.transcoder_speed.toFixed(2)}×): viewers will stall. Lower the resolution or frame rate in OBS.`);
    }
    return warnings;
  }

  async function showHealth(video) {
    let stats = video.live_stats;
    if (stats === undefined) {
      const detail = await Tidecast.api("GET", `/api/videos/${encodeURIComponent(video.url)}`);
      stats = (detail.ok && detail.data && detail.data.live_stats) || {};
      if (detail.ok && detail.data) video = { ...video, ...detail.data };
    }
    const watch = $("health-watch");
    watch.href = `/watch/${encodeURIComponent(video.url)}`;
    watch.textContent = video.title || video.url;
    $("health-viewers").textContent = `${video.viewer_count || 0} watching`;
    const bitrate = number(stats.bitrate_kbps, 0);
    const fps = number(stats.fps, 1);
    const keyframe = number(stats.keyframe_interval, 1);
    const speed = number(stats.transcoder_speed, 2);
    $("stat-bitrate").textContent = bitrate ? `${bitrate} kbps` : "–";
    $("stat-fps").textContent = fps ? `${fps} fps` : "–";
    $("stat-keyframe").textContent = keyframe ? `${keyframe} s` : "–";
    $("stat-speed").textContent = speed ? `${speed}×` : "–";
    const warnings = healthWarnings(stats);
    $("health-warnings").replaceChildren(...warnings.map((text) => el("li", {}, text)));
    $("health-ok").hidden = warnings.length > 0 || !bitrate;
  }

  onSubmit($("video-form"), async (data) => {
    const thumbnail = data.get("thumbnail");
    if (!thumbnail || !thumbnail.size) data.delete("thumbnail");
    const result = await Tidecast.api("POST", "/api/user/channel/videos", data);
    if (result.ok) {
      const form = $("video-form");
      form.reset();
      const success = form.querySelector("[data-success]");
      success.textContent = `Scheduled “${result.data.title}”.`;
      success.hidden = false;
      loadVideos();
    }
    return result;
  });

  // --- profile picture ----------------------------------------------------------------------------
  let avatarTimer = null;

  async function loadProfile() {
    clearTimeout(avatarTimer);
    const result = await Tidecast.api("GET", "/api/user/profile");
    if (!result.ok) return;
    const profile = result.data;
    $("whoami").textContent = profile.display_name || profile.username || "";
    const avatar = profile.avatar;
    const image = $("avatar");
    if (avatar && avatar.status === "ready" && avatar.sizes) {
      image.src = avatar.sizes["128"] || avatar.sizes["64"] || avatar.original;
      image.hidden = false;
      $("avatar-status").textContent = "";
    } else if (avatar && avatar.status === "processing") {
      $("avatar-status").textContent = "Processing your picture…";
      avatarTimer = setTimeout(loadProfile, 2000);
    } else if (avatar && avatar.status === "failed") {
      $("avatar-status").textContent = "That picture could not be processed. Try another one.";
    } else {
      $("avatar-status").textContent = "No picture yet.";
    }
  }

  onSubmit($("avatar-form"), async (data) => {
    const image = data.get("image");
    if (!image || !image.size) {
      return { ok: false, status: 400, data: { errors: { image: ["Choose a picture first."] } } };
    }
    const result = await Tidecast.api("PUT", "/api/user/profile/picture", data);
    if (result.ok) {
      $("avatar-form").reset();
      loadProfile();
    }
    return result;
  });

  // --- session ------------------------------------------------------------------------------------
  $("logout").addEventListener("click", async () => {
    await Tidecast.api("POST", "/api/auth/logout", {});
    window.location.assign("/");
  });

  async function init() {
    const result = await Tidecast.api("GET", "/api/user/channel");
    $("dash-loading").hidden = true;
    if (result.status === 401 || result.status === 403 && !Tidecast.cookie("csrftoken")) return toLogin();
    $("logout").hidden = false;
    $("profile-panel").hidden = false;
    if (result.status === 404) {
      $("create-channel").hidden = false;
      loadProfile();
      return;
    }
    if (!result.ok) return fail(result);
    showChannel(result.data);
  }

  init();
})();
