// Handbill admin UI: small enhancements only; every page works without this file.
"use strict";
document.addEventListener("click", (ev) => {
  const b = ev.target.closest("[data-copy]");
  if (!b) return;
  const text = document.getElementById(b.dataset.copy)?.textContent ?? "";
  navigator.clipboard?.writeText(text.trim()).then(() => { b.textContent = b.dataset.copied || "Copied"; });
});
document.addEventListener("submit", (ev) => {
  const msg = ev.target.dataset.confirm;
  if (msg && !window.confirm(msg)) ev.preventDefault();
});
// Live audience count: forms with data-count-url post their fields there and show the answer.
for (const form of document.querySelectorAll("form[data-count-url]")) {
  const out = document.getElementById(form.dataset.countTarget);
  let timer;
  const update = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const body = new URLSearchParams(new FormData(form));
      const res = await fetch(form.dataset.countUrl, { method: "POST", body, headers: { "Accept": "text/plain" } });
      if (out) out.textContent = await res.text();
    }, 300);
  };
  form.addEventListener("input", update);
  form.addEventListener("change", update);
}
// Live preview: forms with data-live-preview submit their content to the preview frame
// (through their Preview button) a moment after each change, and once when the page opens.
for (const form of document.querySelectorAll("form[data-live-preview]")) {
  const button = form.querySelector("[data-preview-button]");
  if (!button || !form.requestSubmit) continue;
  let timer;
  const refresh = () => {
    clearTimeout(timer);
    timer = setTimeout(() => form.requestSubmit(button), 500);
  };
  form.addEventListener("input", refresh);
  form.addEventListener("change", refresh);
  form.requestSubmit(button);
}
