// Pulse dashboard: the only script. Pages are complete without it; it adds
// acknowledging alerts in place (POST /api/v1/alerts/ack with the browser's
// credentials for this site).
"use strict";
document.addEventListener("submit", async (ev) => {
  const form = ev.target;
  if (!(form instanceof HTMLFormElement) || !form.classList.contains("ack")) return;
  ev.preventDefault();
  const status = form.querySelector(".ack-status");
  const button = form.querySelector("button");
  const body = {
    alert_id: form.dataset.alert,
    note: form.elements.note.value,
  };
  if (form.elements.by.value.trim()) body.by = form.elements.by.value.trim();
  button.disabled = true;
  status.textContent = "saving…";
  try {
    const resp = await fetch("/api/v1/alerts/ack", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const data = await resp.json();
    if (!resp.ok) throw new Error(data.error ? data.error.message : resp.statusText);
    const done = document.createElement("span");
    done.className = "acked";
    done.title = data.acknowledged.note;
    done.textContent = "acknowledged by " + data.acknowledged.by + " · " + data.acknowledged.at.slice(0, 10);
    form.replaceWith(done);
  } catch (e) {
    status.textContent = "failed: " + e.message;
    button.disabled = false;
  }
});
