// Shared helpers: JSON API calls with the JWT cookies and CSRF token, form errors, small formatting.
"use strict";

const Tidecast = (() => {
  function cookie(name) {
    const match = document.cookie.split("; ").find((part) => part.startsWith(name + "="));
    return match ? decodeURIComponent(match.slice(name.length + 1)) : "";
  }

  async function send(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRFToken"] = cookie("csrftoken");
    let payload;
    if (body instanceof FormData) {
      payload = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      payload = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
    } catch (error) {
      return { ok: false, status: 0, headers: new Headers(), data: { detail: "The server cannot be reached. Check your connection." } };
    }
    let data = null;
    const type = response.headers.get("Content-Type") || "";
    if (type.includes("json")) {
      try { data = await response.json(); } catch (error) { data = null; }
    }
    if (!response.ok && !data) data = { detail: `The server answered ${response.status}.` };
    return { ok: response.ok, status: response.status, headers: response.headers, data };
  }

  let refreshing = null;

  // Calls the API; an expired access token is refreshed once (the refresh cookie rotates) and retried.
  async function api(method, path, body) {
    let result = await send(method, path, body);
    if (result.status === 401 && !path.startsWith("/api/auth/")) {
      refreshing = refreshing || send("POST", "/api/auth/refresh", {}).finally(() => { refreshing = null; });
      const refreshed = await refreshing;
      if (refreshed.ok) result = await send(method, path, body);
    }
    return result;
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error], [data-error-for]").forEach((el) => { el.hidden = true; el.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  }

  function messages(value) {
    if (Array.isArray(value)) return value.map(messages).join(" ");
    if (value && typeof value === "object") return Object.values(value).map(messages).join(" ");
    return String(value);
  }

  // Shows {"detail", "errors": {field: [...]}} beside the fields; unknown fields go to the form's message.
  // `codeFields` places a domain error ({"detail", "code"}) under the field it is about.
  function showErrors(form, data, codeFields) {
    clearErrors(form);
    const general = form.querySelector("[data-error]");
    let errors = (data && data.errors) || {};
    const codeField = data && data.code && codeFields && codeFields[data.code];
    if (!Object.keys(errors).length && codeField) errors = { [codeField]: [data.detail] };
    const leftover = [];
    for (const [field, value] of Object.entries(errors)) {
      const slot = form.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
      const input = form.elements.namedItem(field);
      if (slot) {
        slot.textContent = messages(value);
        slot.hidden = false;
        if (input && input.setAttribute) input.setAttribute("aria-invalid", "true");
      } else {
        leftover.push(messages(value));
      }
    }
    if (general && (leftover.length || !Object.keys(errors).length)) {
      general.textContent = leftover.length ? leftover.join(" ") : (data && data.detail) || "Something went wrong.";
      general.hidden = false;
    }
  }

  function config(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : {};
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    return h ? `${h}h ${m}m` : m ? `${m}m ${s}s` : `${s}s`;
  }

  function element(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  return { api, cookie, clearErrors, showErrors, config, duration, element };
})();
