// The dashboard's storage panel: GET /api/user/usage, storage against the quota.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);

  function bytes(value) {
    const units = ["B", "KB", "MB", "GB", "TB"];
    let amount = value;
    let unit = 0;
    while (amount >= 1024 && unit < units.length - 1) {
      amount /= 1024;
      unit += 1;
    }
    return `${amount.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
  }

  async function loadUsage() {
    const panel = $("usage-panel");
    if (!panel) return;
    const result = await Tidecast.api("GET", "/api/user/usage");
    if (!result.ok) return;
    const usage = result.data;
    const share = usage.storage_quota_bytes > 0 ? usage.storage_bytes / usage.storage_quota_bytes : 1;
    $("usage-storage").textContent = `${bytes(usage.storage_bytes)} of ${bytes(usage.storage_quota_bytes)}`;
    $("usage-meter").value = Math.min(share, 1);
    $("usage-videos").textContent = String(usage.videos);
    $("usage-egress").textContent = bytes(usage.egress_bytes_30d);
    $("usage-streamed").textContent = `${Math.round(usage.streamed_seconds_30d / 60)} min`;
    $("usage-over").hidden = usage.storage_bytes <= usage.storage_quota_bytes;
    panel.hidden = false;
  }

  document.addEventListener("DOMContentLoaded", loadUsage);
})();
