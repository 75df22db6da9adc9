// The memberships grid without page loads: each cell's form is posted with fetch(), the
// redirect (post/redirect/get) is followed, and the cell, the messages and the SQL panel
// are taken from the page it answers with. Without JavaScript the forms post as usual.
"use strict";

(function () {
  const main = document.querySelector("main");
  const status = document.getElementById("grid-status");

  function replaceTop(selector, fresh) {
    for (const old of main.querySelectorAll(":scope > " + selector)) old.remove();
    if (fresh) main.prepend(fresh);
  }

  async function toggle(form) {
    const cell = form.closest("td");
    form.querySelector("button").disabled = true;
    cell.setAttribute("aria-busy", "true");
    let response, html;
    try {
      // getAttribute: the form's `action` property is its <input name="action">.
      response = await fetch(form.getAttribute("action"), {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
      });
      html = await response.text();
    } catch (error) {
      response = null;
    }
    if (!response || !response.ok) {
      // A network failure, a 403 or an expired form: post the ordinary way and show
      // what the server says. The form names its action (join or leave), so posting
      // it again never undoes a change.
      HTMLFormElement.prototype.submit.call(form);
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
    const button = freshCell.querySelector("button");
    if (button) button.focus();
  }

  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-grid-toggle]");
    if (!form) return;
    event.preventDefault();
    toggle(form);
  });
})();
