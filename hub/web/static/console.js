// Major Incident Hub console: live board, room and review (Server-Sent Events, with the 10 s
// poll as the fallback), ticking countdowns, live previews, unsaved-edit warnings. Pages work
// without it.
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

  // Follow an event stream: `onChange` after each change (and after a reconnect, for what
  // happened meanwhile). EventSource reconnects by itself after a network error, sending
  // Last-Event-ID; a refused stream (503 when the process is full, a sign-out) is retried
  // here with backoff while the caller's poll keeps the page current.
  function follow(url, onChange, onState) {
    if (!url || !window.EventSource) return;
    let wait = 1000;
    let first = true;
    const open = function () {
      const source = new EventSource(url);
      source.addEventListener("ready", function () {
        wait = 1000;
        if (onState) onState(true);
        if (!first) onChange(null);
        first = false;
      });
      source.addEventListener("change", function (e) {
        let data = null;
        try { data = JSON.parse(e.data); } catch (err) { data = null; }
        onChange(data);
      });
      source.onerror = function () {
        if (onState) onState(false);
        if (source.readyState === EventSource.CLOSED) {
          setTimeout(open, wait);
          wait = Math.min(wait * 2, 30000);
        }
      };
    };
    open();
  }

  function debounce(fn, ms) {
    let timer = null;
    return function (arg) { clearTimeout(timer); timer = setTimeout(function () { fn(arg); }, ms); };
  }

  // Replace each [data-live] element by its namesake in a fresh copy of this page, leaving
  // alone the one that holds the focus (someone is using it).
  function refreshRegions(note) {
    // X-Mihub-Refresh: the page's flashed messages are left for the page the person goes to
    // next (a refresh racing a form's redirect would otherwise take its "Resolved.").
    return fetch(location.href, {
      headers: { "Accept": "text/html", "X-Mihub-Refresh": "regions" }, credentials: "same-origin",
    })
      .then(function (r) {
        if (r.redirected || !r.ok) throw new Error(String(r.status));
        return r.text();
      })
      .then(function (html) {
        const fresh = new DOMParser().parseFromString(html, "text/html");
        let changed = false;
        document.querySelectorAll("[data-live]").forEach(function (el) {
          const other = fresh.getElementById(el.id);
          if (!other || el.contains(document.activeElement)) return;
          if (el.innerHTML !== other.innerHTML) { el.innerHTML = other.innerHTML; changed = true; }
        });
        if (changed) {
          tick();
          if (note) note.textContent = "Changed at " + new Date().toLocaleTimeString() + ".";
        }
      });
  }

  function liveRoom() {
    const root = document.querySelector("[data-events-url]");
    if (!root || document.getElementById("board")) return;
    const note = document.getElementById("live-note");
    const refresh = debounce(function () {
      refreshRegions(note).catch(function () { if (note) note.textContent = "Could not refresh; retrying."; });
    }, 50);
    let live = false;
    follow(root.dataset.eventsUrl, refresh, function (on) { live = on; });
    // the fallback while no stream is open
    setInterval(function () { if (!live) refresh(); }, 10000);
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
    let live = false;
    follow(board.dataset.eventsUrl, debounce(refresh, 50), function (on) { live = on; });
    setInterval(function () { if (!live) refresh(); }, 10000);
  }

  // Say so before leaving a form with unsaved edits.
  function guardEdits(form) {
    if (!form) return;
    let dirty = form.dataset.dirty === "true";
    form.addEventListener("input", function () { dirty = true; });
    form.addEventListener("change", function () { dirty = true; });
    form.addEventListener("submit", function () { dirty = false; });
    window.addEventListener("beforeunload", function (e) {
      if (!dirty) return undefined;
      e.preventDefault();
      e.returnValue = "";
      return "";
    });
    // "Take theirs" / "Keep mine" on a version conflict
    form.querySelectorAll("button[data-take]").forEach(function (button) {
      button.addEventListener("click", function () {
        const field = document.getElementById(button.dataset.take);
        const theirs = document.getElementById(button.dataset.from);
        if (field && theirs) { field.value = theirs.textContent; dirty = true; field.focus(); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 15000);
    liveBoard();
    liveRoom();
    guardEdits(document.getElementById("review-form"));
    livePreview(document.getElementById("declare-form"),
      document.getElementById("classification-preview"), 350);
    livePreview(document.getElementById("update-form"),
      document.getElementById("update-preview"), 600);
  });
})();
