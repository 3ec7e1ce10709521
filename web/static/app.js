// Perkbridge admin: small progressive enhancement over server-rendered
// pages. Every page works without this file (plain links, GET filters and
// POST forms with Post/Redirect/Get); this adds:
//
//   - inside the Shopify admin (App Bridge loaded): POST forms are sent with
//     fetch and `Authorization: Bearer <fresh ID token>`, because the app
//     has no cookie there and App Bridge only patches fetch. The answer (the
//     page after the redirect, or the same page with field errors and 422)
//     replaces <main>, so no full reload and no new bounce are needed;
//   - a busy state on the submit button ("Initializing…", disabled) while a
//     form is being sent, in every mode;
//   - the events page's live payload preview, the common property's
//     metafield input and the statistics' custom range shown only when
//     they apply.
//
// It is loaded with the request's CSP nonce and uses no other script.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function appBridge() {
    return window.shopify && typeof window.shopify.idToken === "function" ? window.shopify : null;
  }

  function submitterOf(form, event) {
    return (event && event.submitter) || form.querySelector('button[type="submit"], button:not([type])');
  }

  function setBusy(button, busy) {
    if (!button) return;
    if (busy) {
      if (!button.dataset.label) button.dataset.label = button.textContent;
      if (button.dataset.busyLabel) button.textContent = button.dataset.busyLabel;
      button.setAttribute("aria-busy", "true");
      button.disabled = true;
    } else {
      if (button.dataset.label) button.textContent = button.dataset.label;
      button.removeAttribute("aria-busy");
      button.disabled = false;
    }
  }

  // showProblem puts a message at the top of <main> (and in a toast inside
  // the admin) when an answer cannot be shown as a page.
  function showProblem(message) {
    const main = document.querySelector("main");
    let box = document.getElementById("script-problem");
    if (!box) {
      box = document.createElement("div");
      box.id = "script-problem";
      box.className = "banner banner-critical";
      box.setAttribute("role", "alert");
      box.setAttribute("data-testid", "script-problem");
      main.prepend(box);
    }
    box.textContent = message;
    const ab = appBridge();
    if (ab && ab.toast) ab.toast.show(message, { isError: true });
  }

  // swapMain replaces the page's <main> with the one of html and moves the
  // focus to what the merchant must read first: an error summary, the
  // first invalid input, or the outcome banner.
  function swapMain(html, url) {
    const doc = new DOMParser().parseFromString(html, "text/html");
    const next = doc.querySelector("main");
    const main = document.querySelector("main");
    if (!next || !main) return false;
    main.replaceWith(next);
    if (doc.title) document.title = doc.title;
    if (url) {
      const u = new URL(url, window.location.href);
      u.searchParams.delete("id_token");
      history.replaceState(null, "", u.toString());
    }
    enhance(next);
    const target = next.querySelector("[data-focus], [aria-invalid='true'], [role='alert'], [data-testid='flash']");
    if (target) {
      if (!target.matches("input, select, textarea, button, a")) target.setAttribute("tabindex", "-1");
      target.focus();
    } else {
      next.focus();
    }
    return true;
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const button = submitterOf(form, event);
    const method = ((event.submitter && event.submitter.getAttribute("formmethod")) || form.method || "get").toLowerCase();
    const ab = appBridge();
    if (method !== "post" || !ab) {
      // A plain submission: the browser navigates. Mark the button busy
      // after the form data is taken (a disabled button is not sent).
      if (method === "post") setTimeout(() => setBusy(button, true), 0);
      return;
    }
    event.preventDefault();
    setBusy(button, true);
    try {
      const res = await fetch(form.action, {
        method: "POST",
        headers: {
          Authorization: "Bearer " + (await ab.idToken()),
          Accept: "text/html",
          "Content-Type": "application/x-www-form-urlencoded;charset=UTF-8",
        },
        body: new URLSearchParams(new FormData(form)),
      });
      const type = res.headers.get("Content-Type") || "";
      if (type.includes("text/html") && swapMain(await res.text(), res.redirected ? res.url : null)) return;
      let message = "The request failed (" + res.status + ").";
      try { message = (await res.json()).error.message || message; } catch (e) { /* not JSON */ }
      showProblem(message);
    } catch (e) {
      showProblem("The request failed. Check your connection and try again.");
    }
    setBusy(button, false);
  });

  // A page restored from the back-forward cache keeps its busy buttons.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) document.querySelectorAll("button[aria-busy='true']").forEach((b) => setBusy(b, false));
  });

  function toggle(el, show) {
    el.hidden = !show;
    el.querySelectorAll("input, select").forEach((i) => { i.disabled = !show; });
  }

  function enhanceCommonProperty(root) {
    root.querySelectorAll("select[data-common-property]").forEach((select) => {
      const field = select.form && select.form.querySelector("[data-metafield-field]");
      if (!field) return;
      const update = () => toggle(field, select.value === "metafield");
      select.addEventListener("change", update);
      update();
    });
  }

  function enhanceRange(root) {
    root.querySelectorAll("select[data-range-select]").forEach((select) => {
      const fields = select.form.querySelectorAll("[data-custom-range]");
      const update = () => fields.forEach((f) => toggle(f, select.value === "custom"));
      select.addEventListener("change", update);
      update();
    });
  }

  function enhancePreview(root) {
    root.querySelectorAll("form[data-preview-url]").forEach((form) => {
      const preview = form.closest("section").querySelector("[data-preview]");
      const eventSelect = form.querySelector("select[name='event']");
      const description = form.querySelector("[data-event-description]");
      const channels = form.querySelector("[data-channels]");
      let seq = 0;
      const update = async () => {
        const option = eventSelect.selectedOptions[0];
        if (option && description) description.textContent = option.dataset.description || "";
        if (channels) {
          const ordered = option && option.dataset.orderDerived === "true";
          channels.querySelectorAll("input").forEach((i) => {
            i.disabled = !ordered;
            if (!ordered) i.checked = false;
          });
          channels.classList.toggle("muted", !ordered);
        }
        if (!preview) return;
        const url = new URL(form.dataset.previewUrl, window.location.href);
        url.searchParams.set("integration", form.querySelector("[name='integration']").value);
        url.searchParams.set("event", eventSelect.value);
        url.searchParams.set("fragment", "1");
        const mine = ++seq;
        preview.setAttribute("aria-busy", "true");
        try {
          const res = await fetch(url.toString(), { headers: { Accept: "text/html" } });
          if (res.ok && mine === seq) preview.innerHTML = await res.text();
        } catch (e) { /* keep the previous preview */ }
        if (mine === seq) preview.removeAttribute("aria-busy");
      };
      form.querySelectorAll("[data-preview-input]").forEach((s) => s.addEventListener("change", update));
      // Channels and description follow the selection at once; the
      // preview the server rendered is already the selected one.
      if (eventSelect) {
        const option = eventSelect.selectedOptions[0];
        if (channels && option && option.dataset.orderDerived !== "true") {
          channels.querySelectorAll("input").forEach((i) => { i.disabled = true; });
          channels.classList.add("muted");
        }
      }
    });
  }

  function enhance(root) {
    enhanceCommonProperty(root);
    enhanceRange(root);
    enhancePreview(root);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => enhance(document));
  } else {
    enhance(document);
  }
})();
