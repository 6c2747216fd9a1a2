// The search box: asks the catalogue API and shows the matches without leaving the page.
"use strict";

(() => {
  const form = document.getElementById("search-form");
  const input = document.getElementById("search-input");
  const section = document.getElementById("search-results");
  const list = document.getElementById("search-list");
  const empty = document.getElementById("search-empty");
  const el = Tidecast.element;

  function card(video) {
    const live = video.status === "live";
    const thumb = el("div", { class: "thumb" },
      video.thumbnail ? el("img", { src: video.thumbnail, alt: "", loading: "lazy" })
        : el("div", { class: "thumb-empty" }, (video.title || "?").slice(0, 1).toUpperCase()),
      live ? el("span", { class: "badge badge-live" }, "LIVE") : null,
      live ? el("span", { class: "viewers" }, `${video.viewer_count || 0} watching`) : null);
    const channel = video.channel && typeof video.channel === "object" ? (video.channel.title || video.channel.name) : video.channel;
    const body = el("div", { class: "card-body" },
      el("strong", { class: "card-title" }, video.title || ""),
      channel ? el("span", { class: "card-meta" }, channel) : null);
    return el("li", { class: live ? "card card-live" : "card" },
      el("a", { class: "card-link", href: `/watch/${encodeURIComponent(video.url)}` }, thumb, body));
  }

  let pending = 0;
  form.addEventListener("submit", async (event) => {
    const query = input.value.trim();
    if (!query) {
      event.preventDefault();
      section.hidden = true;
      history.replaceState(null, "", "/");
      return;
    }
    event.preventDefault();
    const ticket = ++pending;
    const result = await Tidecast.api("GET", `/api/videos/?search=${encodeURIComponent(query)}`);
    if (ticket !== pending) return;
    if (!result.ok) {
      form.submit(); // fall back to the server-rendered search
      return;
    }
    const videos = Array.isArray(result.data) ? result.data : result.data.results || [];
    const visible = videos.filter((video) => video.status !== "scheduled");
    list.replaceChildren(...visible.map(card));
    empty.hidden = visible.length > 0;
    const label = section.querySelector("h2");
    label.textContent = `Results for “${query}”`;
    section.hidden = false;
    history.replaceState(null, "", `/?q=${encodeURIComponent(query)}`);
  });
})();
