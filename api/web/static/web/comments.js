// Comments under a recording or upload, and the chat beside a live stream: the newest ones on
// opening (?last=), then new ones every pollMs (?after=<the highest id seen>). Every answer says how
// many comments of the video were deleted so far (Comments-Deleted): when that changes, the next
// poll reads the newest ones again (?last=) and drops what went. Every message is put on the page
// with textContent, never as HTML. The author deletes their own messages, the
// video's owner any, and turns comments on or off.
"use strict";

(() => {
  const config = Tidecast.config("comments-config");
  const section = document.getElementById("comments");
  if (!section || !config.api) return;
  const list = document.getElementById("comment-list");
  const form = document.getElementById("comment-form");
  const input = document.getElementById("comment-text");
  const error = document.getElementById("comment-error");
  const off = document.getElementById("comments-off");
  const signin = document.getElementById("comment-signin");
  const toggle = document.getElementById("comments-toggle");
  const enabledBox = document.getElementById("comments-enabled");

  const OPENING_COUNT = 100;
  const SHOWN_MAX = 500; // the oldest go once a chat holds this many
  const POLL_MIN_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  let lastId = 0;
  let enabled = Boolean(config.enabled);
  let deletionsSeen = null; // the Comments-Deleted figure the list on the page reflects
  let resyncing = false;
  let pollTimer = null;
  let failures = 0;

  function showState() {
    off.hidden = enabled;
    form.hidden = !enabled || !config.viewer;
    signin.hidden = !enabled || Boolean(config.viewer);
    toggle.hidden = !config.isOwner;
    enabledBox.checked = enabled;
  }

  function say(text) {
    error.textContent = text || "";
    error.hidden = !text;
  }

  function timeLabel(iso) {
    const when = new Date(iso);
    return Number.isNaN(when.getTime()) ? "" : when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function render(comment) {
    const item = element("li", "comment");
    item.dataset.id = String(comment.id);
    const author = comment.author || {};
    item.append(element("span", "comment-author", author.display_name || author.username || ""));
    const time = element("time", "comment-time", timeLabel(comment.created_at));
    time.dateTime = comment.created_at || "";
    item.append(time);
    if (config.isOwner || (config.viewer && author.username === config.viewer)) {
      const remove = element("button", "comment-delete", "Delete");
      remove.type = "button";
      remove.addEventListener("click", () => removeComment(comment.id, item));
      item.append(remove);
    }
    item.append(element("p", "comment-text", comment.text));
    return item;
  }

  function nearBottom() {
    const scroller = config.live ? list : document.scrollingElement;
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  function add(comments) {
    const follow = config.live && nearBottom();
    for (const comment of comments) {
      lastId = Math.max(lastId, comment.id);
      if (list.querySelector(`li[data-id="${comment.id}"]`)) continue; // our own, shown on posting
      list.append(render(comment));
    }
    while (list.children.length > SHOWN_MAX) list.firstElementChild.remove();
    if (follow) list.scrollTop = list.scrollHeight;
  }

  // Removes what is shown but no longer among the newest ones (deleted by its author or the owner).
  function resync(comments) {
    if (!comments.length) {
      list.replaceChildren();
      return;
    }
    const kept = new Set(comments.map((comment) => String(comment.id)));
    const oldest = comments[0].id;
    for (const item of [...list.children]) {
      if (Number(item.dataset.id) >= oldest && !kept.has(item.dataset.id)) item.remove();
    }
  }

  async function poll() {
    const full = resyncing || lastId === 0;
    const result = await Tidecast.api("GET", `${config.api}?${full ? `last=${OPENING_COUNT}` : `after=${lastId}`}`);
    if (result.ok && Array.isArray(result.data)) {
      failures = 0;
      const deletions = result.headers.get("Comments-Deleted");
      if (full) {
        if (resyncing) resync(result.data);
        resyncing = false;
        deletionsSeen = deletions;
      } else if (deletions !== deletionsSeen) {
        resyncing = true; // something was deleted since the list on the page was read
      }
      add(result.data);
    } else {
      failures += 1;
    }
    const delay = resyncing ? POLL_MIN_MS : Math.max(POLL_MIN_MS, config.pollMs || 2000) * Math.min(2 ** failures, BACKOFF_MAX_MS / 1000);
    pollTimer = setTimeout(poll, Math.min(delay, BACKOFF_MAX_MS));
  }

  async function removeComment(id, item) {
    const result = await Tidecast.api("DELETE", `${config.api}/${id}`);
    if (result.ok || result.status === 404) item.remove();
    else say((result.data && result.data.detail) || "This message cannot be deleted.");
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    say("");
    const button = form.querySelector("button");
    button.disabled = true;
    const result = await Tidecast.api("POST", config.api, { text });
    button.disabled = false;
    if (result.ok && result.data) {
      input.value = "";
      // Shown now; the polls go on from where they were, so others' messages sent meanwhile come too.
      const before = lastId;
      add([result.data]);
      lastId = before;
      if (config.live) list.scrollTop = list.scrollHeight;
      return;
    }
    if (result.status === 403 && result.data && result.data.code === "comments_disabled") {
      enabled = false;
      showState();
    }
    say((result.data && result.data.detail) || "The message was not sent.");
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && config.live) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  enabledBox.addEventListener("change", async () => {
    const wanted = enabledBox.checked;
    const result = await Tidecast.api("PATCH", config.ownerApi, { comments_enabled: wanted });
    if (result.ok && result.data) enabled = Boolean(result.data.comments_enabled);
    else say((result.data && result.data.detail) || "The setting was not saved.");
    showState();
  });

  showState();
  poll();
})();
