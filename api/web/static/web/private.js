// A private video's page for someone the server did not recognise: an owner whose access token
// has just expired gets a fresh one (the refresh cookie) and the page once more, which then plays.
"use strict";

(async () => {
  const key = `tidecast-private-retry:${location.pathname}`;
  const last = Number(sessionStorage.getItem(key) || 0);
  if (Date.now() - last < 60000) return; // once a minute at most, never a loop
  sessionStorage.setItem(key, String(Date.now()));
  const refreshed = await Tidecast.api("POST", "/api/auth/refresh", {});
  if (refreshed.ok) location.reload();
})();
