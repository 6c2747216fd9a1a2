// Log-in and sign-up pages: post to the auth API, which sets the JWT cookies, then go on.
"use strict";

(() => {
  const { next } = Tidecast.config("page-config");
  const destination = next && next.startsWith("/") && !next.startsWith("//") ? next : "/dashboard/";

  async function logIn(form, username, password) {
    const result = await Tidecast.api("POST", "/api/auth/login", { username, password });
    if (result.ok) {
      window.location.assign(destination);
      return true;
    }
    if (result.status === 401) result.data = { detail: "Wrong username or password." };
    if (result.status === 429) result.data = { detail: "Too many attempts. Wait a few minutes and try again." };
    Tidecast.showErrors(form, result.data);
    return false;
  }

  function bind(form, handler) {
    if (!form) return;
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      Tidecast.clearErrors(form);
      try {
        await handler(form, Object.fromEntries(new FormData(form)));
      } finally {
        button.disabled = false;
      }
    });
  }

  bind(document.getElementById("login-form"), (form, fields) => logIn(form, fields.username, fields.password));

  bind(document.getElementById("signup-form"), async (form, fields) => {
    const result = await Tidecast.api("POST", "/api/auth/signup", fields);
    if (!result.ok) {
      Tidecast.showErrors(form, result.data);
      return;
    }
    await logIn(form, fields.username, fields.password);
  });
})();
