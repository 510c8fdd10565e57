// flashcards: a little progressive enhancement. Every page works without this file;
// with it, studying needs no page loads and has keyboard shortcuts. No inline
// handlers anywhere (the Content-Security-Policy forbids them).
"use strict";

(function () {
  const study = document.getElementById("study");
  let shownAt = performance.now();
  let busy = false;
  let reloadTimer = null;

  // --- confirmations (reset progress) -------------------------------------------
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm) {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    }
  }, true);

  if (!study) {
    return;
  }

  function answerArea() {
    return study.querySelector("#answer");
  }

  function isRevealed() {
    const area = answerArea();
    return Boolean(area && !area.hidden);
  }

  function reveal() {
    const area = answerArea();
    if (!area || !area.hidden) {
      return;
    }
    area.hidden = false;
    const form = study.querySelector("form[data-js='reveal']");
    if (form) {
      form.remove();
    }
    area.focus({ preventScroll: true });
    area.scrollIntoView({ block: "nearest" });
  }

  function setPanel(html) {
    study.innerHTML = html;
    shownAt = performance.now();
    startPanel();
  }

  function showNotice(text) {
    const panel = study.querySelector(".study-panel") || study;
    let notice = panel.querySelector(".notice");
    if (!notice) {
      notice = document.createElement("p");
      notice.className = "notice notice-error";
      notice.setAttribute("role", "alert");
      panel.prepend(notice);
    }
    notice.textContent = text;
  }

  function startPanel() {
    if (reloadTimer) {
      clearTimeout(reloadTimer);
      reloadTimer = null;
    }
    const showButton = study.querySelector("#show-answer");
    if (showButton) {
      showButton.focus({ preventScroll: true });
    } else if (isRevealed()) {
      const good = study.querySelector(".rate-good");
      if (good) {
        good.focus({ preventScroll: true });
      }
    } else {
      const heading = study.querySelector("h2");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus({ preventScroll: true });
      }
    }
    const next = study.querySelector("[data-next-at]");
    if (next) {
      const wait = Number(next.dataset.nextAt) - Date.now() + 1000;
      reloadTimer = setTimeout(refresh, Math.max(1000, Math.min(wait, 6 * 3600 * 1000)));
    }
  }

  async function refresh() {
    try {
      const response = await fetch(study.dataset.url, {
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      const data = await response.json();
      if (data.html) {
        setPanel(data.html);
      }
    } catch (error) {
      // Offline for a moment: the "Check again" link still works.
    }
  }

  async function post(form, submitter) {
    if (busy) {
      return;
    }
    busy = true;
    const body = new FormData(form, submitter || undefined);
    if (body.has("duration_ms")) {
      body.set("duration_ms", String(Math.round(performance.now() - shownAt)));
    }
    const panel = study.querySelector(".study-panel");
    if (panel) {
      panel.classList.add("busy");
    }
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: body,
        headers: { Accept: "application/json" },
        credentials: "same-origin",
      });
      let data = null;
      try {
        data = await response.json();
      } catch (error) {
        data = null;
      }
      if (data && data.html) {
        setPanel(data.html);
      } else {
        showNotice((data && data.error) || "Something went wrong (" + response.status + "); nothing was recorded. Reload the page.");
      }
    } catch (error) {
      showNotice("The server could not be reached; nothing was recorded. Try again.");
    } finally {
      busy = false;
      const current = study.querySelector(".study-panel");
      if (current) {
        current.classList.remove("busy");
      }
    }
  }

  study.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement) || event.defaultPrevented) {
      return;
    }
    if (form.dataset.js === "reveal") {
      event.preventDefault();
      reveal();
    } else if (form.dataset.js === "study-post") {
      event.preventDefault();
      post(form, event.submitter);
    }
  });

  function press(selector) {
    const button = study.querySelector(selector);
    if (!button) {
      return false;
    }
    if (button.tagName === "A") {
      window.location.href = button.href;
    } else if (button.form) {
      button.form.requestSubmit(button);
    }
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) {
      return;
    }
    const target = event.target;
    if (target instanceof HTMLElement &&
        (target.isContentEditable || target.closest("input, textarea, select, summary"))) {
      return;
    }
    const onControl = target instanceof HTMLElement && target.closest("button, a");
    const key = event.key;
    let handled = false;
    if (busy) {
      if (key === " " || key === "Enter" || "1234zZ-@eE".includes(key)) {
        event.preventDefault();
      }
      return;
    }
    if (key === " " || key === "Enter") {
      if (onControl) {
        return; // the focused button or link does its own thing
      }
      if (!isRevealed()) {
        reveal();
        handled = true;
      } else {
        handled = press(".rate-good");
      }
    } else if (key.length === 1 && "1234".includes(key)) {
      if (isRevealed()) {
        handled = press(".rate[value='" + key + "']");
      }
    } else if (key === "z" || key === "Z") {
      handled = press("[data-action='undo']");
    } else if (key === "-") {
      handled = press("[data-action='bury']");
    } else if (key === "@") {
      handled = press("[data-action='suspend']");
    } else if (key === "e" || key === "E") {
      handled = press("[data-action='edit']");
    }
    if (handled) {
      event.preventDefault();
    }
  });

  startPanel();
})();
