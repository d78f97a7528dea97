// Major Incident Hub console: live board, ticking countdowns, live previews. Pages work without it.
"use strict";

(function () {
  const csrf = document.body.dataset.csrf || "";

  function span(seconds) {
    const minutes = Math.floor(seconds / 60);
    if (minutes < 1) return Math.max(0, Math.floor(seconds)) + " s";
    if (minutes < 60) return minutes + " min";
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return hours + " h " + String(minutes % 60).padStart(2, "0") + " min";
    return Math.floor(hours / 24) + " d " + (hours % 24) + " h";
  }

  function tick() {
    const now = Date.now();
    document.querySelectorAll(".countdown[data-due]").forEach(function (el) {
      const left = (Date.parse(el.dataset.due) - now) / 1000;
      if (Number.isNaN(left)) return;
      el.textContent = left < 0 ? "overdue " + span(-left) : "in " + span(left);
      el.classList.toggle("late", left < 0);
    });
  }

  function post(url, form) {
    return fetch(url, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Accept": "text/html" },
    }).then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); });
  }

  function livePreview(form, target, delay) {
    if (!form || !target || !form.dataset.previewUrl) return;
    let timer = null;
    let last = "";
    const run = function () {
      const key = new URLSearchParams(new FormData(form)).toString();
      if (key === last) return;
      last = key;
      post(form.dataset.previewUrl, form)
        .then(function (html) { target.innerHTML = html; })
        .catch(function () { /* keep the last preview; the button still works */ });
    };
    form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(run, delay); });
    form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(run, delay); });
  }

  function liveBoard() {
    const board = document.getElementById("board");
    const note = document.getElementById("live-note");
    if (!board) return;
    let etag = board.dataset.etag || "";
    const refresh = function () {
      const headers = { "Accept": "text/html" };
      if (etag) headers["If-None-Match"] = etag;
      fetch(board.dataset.liveUrl, { headers: headers, credentials: "same-origin" })
        .then(function (r) {
          if (r.redirected || r.status === 401) {
            if (note) note.textContent = "Signed out: reload the page to sign in again.";
            return null;
          }
          if (r.status === 304) return null;
          if (!r.ok) throw new Error(String(r.status));
          etag = r.headers.get("ETag") || "";
          return r.text();
        })
        .then(function (html) {
          if (html === null || html === undefined) return;
          board.innerHTML = html;
          tick();
          // said only when something changed: screen readers hear it, so no chatter
          if (note) note.textContent = "Changed at " + new Date().toLocaleTimeString() + "; updates itself every 10 seconds.";
        })
        .catch(function () { if (note) note.textContent = "Could not refresh; retrying."; });
    };
    setInterval(refresh, 10000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 15000);
    liveBoard();
    livePreview(document.getElementById("declare-form"),
      document.getElementById("classification-preview"), 350);
    livePreview(document.getElementById("update-form"),
      document.getElementById("update-preview"), 600);
  });
})();
