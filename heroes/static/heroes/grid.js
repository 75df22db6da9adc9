// The memberships grid without page loads: the cell's button is posted with fetch(), the
// redirect (post/redirect/get) is followed, and the cell, the messages and the SQL panel
// are taken from the page it answers with. Without JavaScript the grid's form posts the
// button clicked as usual.
"use strict";

(function () {
  const main = document.querySelector("main");
  const status = document.getElementById("grid-status");

  function replaceTop(selector, fresh) {
    for (const old of main.querySelectorAll(":scope > " + selector)) old.remove();
    if (fresh) main.prepend(fresh);
  }

  function submitNormally(form, button) {
    // form.submit() leaves the clicked button out: carry its value in a field instead.
    const field = document.createElement("input");
    field.type = "hidden";
    field.name = button.name;
    field.value = button.value;
    form.append(field);
    HTMLFormElement.prototype.submit.call(form);
  }

  async function toggle(form, button) {
    const cell = button.closest("td");
    const body = new FormData(form, button); // before disabling: disabled buttons post nothing
    button.disabled = true;
    cell.setAttribute("aria-busy", "true");
    let response, html;
    try {
      // getAttribute: the form's `action` property would be a field named "action".
      response = await fetch(form.getAttribute("action"), {
        method: "POST",
        body: body,
        credentials: "same-origin",
      });
      html = await response.text();
    } catch (error) {
      response = null;
    }
    if (!response || !response.ok) {
      // A network failure, a 403 or an expired form: post the ordinary way and show
      // what the server says. The button names its action (join or leave), so posting
      // it again never undoes a change.
      submitNormally(form, button);
      return;
    }
    const page = new DOMParser().parseFromString(html, "text/html");
    const freshCell = page.getElementById(cell.id);
    if (!freshCell) {
      window.location.assign(response.url);
      return;
    }
    cell.replaceWith(freshCell);
    const messages = page.querySelector("main > .messages");
    // Base order: messages first, then the SQL panel.
    replaceTop(".sql-panel", page.querySelector("main > .sql-panel"));
    replaceTop(".messages", messages);
    if (status) {
      status.textContent = messages ? messages.textContent.trim().replace(/\s+/g, " ") : "";
    }
    const fresh = freshCell.querySelector("button");
    if (fresh) fresh.focus();
  }

  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-grid]");
    const button = event.submitter;
    if (!form || !button || button.name !== "cell") return;
    event.preventDefault();
    toggle(form, button);
  });
})();
