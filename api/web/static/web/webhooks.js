// The dashboard's webhooks: list, add (event checkboxes; the secret is shown once), delete, and
// the record of delivery tries. Everything goes through the API; text is set as text, never HTML.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const el = Tidecast.element;
  const panel = $("webhooks-panel");
  if (!panel) return;

  function when(iso) {
    return new Date(iso).toLocaleString();
  }

  async function showDeliveries(webhook, box) {
    box.replaceChildren(el("p", { class: "hint" }, "Loading…"));
    const result = await Tidecast.api("GET", `/api/user/webhooks/${webhook.id}/deliveries`);
    if (!result.ok) {
      box.replaceChildren(el("p", { class: "form-error" }, (result.data && result.data.detail) || "Could not load."));
      return;
    }
    const tries = result.data.results;
    if (!tries.length) {
      box.replaceChildren(el("p", { class: "empty" }, "No deliveries yet."));
      return;
    }
    const rows = tries.map((attempt) => el(
      "tr", { "data-delivery": attempt.message_id },
      el("td", {}, when(attempt.created_at)),
      el("td", {}, attempt.event),
      el("td", {}, `#${attempt.attempt}`),
      el("td", { class: attempt.error ? "bad" : "ok" }, attempt.status_code !== null ? String(attempt.status_code) : "–"),
      el("td", {}, attempt.error || "delivered"),
    ));
    const head = el("tr", {}, ...["Time", "Event", "Try", "Status", "Result"].map((name) => el("th", {}, name)));
    box.replaceChildren(el("table", { class: "deliveries" }, el("thead", {}, head), el("tbody", {}, ...rows)));
  }

  function item(webhook) {
    const deliveries = el("div", { class: "deliveries-box", hidden: true });
    const toggle = el("button", { type: "button", class: "small" }, "Deliveries");
    toggle.addEventListener("click", () => {
      deliveries.hidden = !deliveries.hidden;
      if (!deliveries.hidden) showDeliveries(webhook, deliveries);
    });
    const remove = el("button", { type: "button", class: "small danger" }, "Delete");
    remove.addEventListener("click", async () => {
      if (!window.confirm(`Delete the webhook to ${webhook.url}?`)) return;
      const result = await Tidecast.api("DELETE", `/api/user/webhooks/${webhook.id}`);
      if (result.ok) load();
    });
    return el(
      "li", { class: "webhook", "data-webhook": String(webhook.id) },
      el("code", {}, webhook.url), " ",
      el("span", { class: "card-meta" }, webhook.events.join(", ")), " ",
      toggle, " ", remove, deliveries,
    );
  }

  async function load() {
    const result = await Tidecast.api("GET", "/api/user/webhooks");
    if (!result.ok) return; // signed out: the dashboard sends the visitor to the login page
    panel.hidden = false;
    const list = $("webhook-list");
    list.replaceChildren(...result.data.map(item));
    if (!result.data.length) list.append(el("li", { class: "empty" }, "No webhooks yet."));
  }

  $("webhook-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.target;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    Tidecast.clearErrors(form);
    $("webhook-secret").hidden = true;
    try {
      const data = new FormData(form);
      const result = await Tidecast.api("POST", "/api/user/webhooks", { url: data.get("url"), events: data.getAll("events") });
      if (!result.ok) {
        Tidecast.showErrors(form, result.data, { invalid_url: "url", no_events: "events", too_many_webhooks: "url" });
        return;
      }
      form.elements.namedItem("url").value = "";
      $("webhook-secret-value").textContent = result.data.secret;
      $("webhook-secret").hidden = false;
      load();
    } finally {
      button.disabled = false;
    }
  });

  load();
})();
