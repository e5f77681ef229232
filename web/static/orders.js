// Split form (I1 拆分任务): "add a row" buttons copy the last row of their table with empty inputs.
(function () {
  "use strict";
  document.querySelectorAll("button[data-add-row]").forEach(function (button) {
    button.addEventListener("click", function () {
      var body = document.querySelector("#" + button.getAttribute("data-add-row") + " tbody");
      if (!body || !body.lastElementChild || body.children.length >= 100) { return; }
      var row = body.lastElementChild.cloneNode(true);
      var n = body.children.length + 1;
      row.querySelectorAll("input, select").forEach(function (field) {
        if (field.tagName === "SELECT") { field.selectedIndex = 0; } else { field.value = ""; }
        var label = field.getAttribute("aria-label");
        if (label) { field.setAttribute("aria-label", label.replace(/\d+$/, String(n))); }
      });
      body.appendChild(row);
      var first = row.querySelector("input, select");
      if (first) { first.focus(); }
    });
  });
})();
