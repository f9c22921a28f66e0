// Date fields are text inputs in the Danish format (dd.mm.åååå), so the browser's own
// language never turns them into mm/dd/yyyy. This adds a calendar (cally, from
// node_modules) behind a button next to each field: keyboard operable (arrows move the
// day, Enter picks it, Escape closes and returns to the field). Without script the field
// still takes a typed date; the server reads dd.mm.åååå, dd-mm-åååå and ISO dates.
(function () {
  function iso(text) {
    var m = /^\s*(\d{1,2})[.\-\/](\d{1,2})[.\-\/](\d{4})\s*$/.exec(text || "");
    if (m) { return m[3] + "-" + ("0" + m[2]).slice(-2) + "-" + ("0" + m[1]).slice(-2); }
    m = /^\s*(\d{4})-(\d{2})-(\d{2})\s*$/.exec(text || "");
    return m ? m[0].trim() : "";
  }
  function danish(value) {
    var p = value.split("-");
    return p[2] + "." + p[1] + "." + p[0];
  }
  document.querySelectorAll("input[data-datefield]").forEach(function (input, n) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "datefield-open";
    button.textContent = input.getAttribute("data-open-label") || "Vælg dato";
    if (input.getAttribute("data-field-label")) {  // the visible words first (WCAG 2.5.3)
      button.setAttribute("aria-label", button.textContent + ": " + input.getAttribute("data-field-label"));
    }
    button.setAttribute("aria-expanded", "false");
    var popup = document.createElement("div");
    popup.className = "datefield-popup";
    popup.id = (input.id || "datefield-" + n) + "-kalender";
    popup.hidden = true;
    popup.setAttribute("role", "dialog");
    popup.setAttribute("aria-label", input.getAttribute("data-dialog-label") || "Kalender");
    button.setAttribute("aria-controls", popup.id);
    var calendar = document.createElement("calendar-date");
    calendar.setAttribute("locale", document.documentElement.lang === "en" ? "en-GB" : "da-DK");
    calendar.setAttribute("first-day-of-week", "1");
    if (input.getAttribute("data-today")) { calendar.setAttribute("today", input.getAttribute("data-today")); }
    [["previous", "data-previous-label", "‹"], ["next", "data-next-label", "›"]].forEach(function (spec) {
      var slot = document.createElement("span");
      slot.setAttribute("slot", spec[0]);
      var words = document.createElement("span");
      words.className = "visually-hidden";
      words.textContent = input.getAttribute(spec[1]) || spec[0];
      var arrow = document.createElement("span");
      arrow.setAttribute("aria-hidden", "true");
      arrow.textContent = spec[2];
      slot.appendChild(words);
      slot.appendChild(arrow);
      calendar.appendChild(slot);
    });
    calendar.appendChild(document.createElement("calendar-month"));
    popup.appendChild(calendar);
    input.insertAdjacentElement("afterend", button);
    button.insertAdjacentElement("afterend", popup);

    function close(focusInput) {
      popup.hidden = true;
      button.setAttribute("aria-expanded", "false");
      if (focusInput) { input.focus(); }
    }
    // The calendar follows the field as it is typed in, so it is drawn on the right date
    // before it opens and takes the focus at once: a key pressed right after opening goes
    // to the calendar, not to the button (which it would close again).
    function follow() {
      var value = iso(input.value);
      if (value && calendar.getAttribute("value") !== value) {
        calendar.setAttribute("value", value);
        calendar.setAttribute("focused-date", value);
      }
    }
    follow();
    input.addEventListener("input", follow);
    input.addEventListener("change", follow);
    button.addEventListener("click", function () {
      if (!popup.hidden) { close(true); return; }
      follow();
      popup.hidden = false;
      button.setAttribute("aria-expanded", "true");
      calendar.focus();
      // not drawn yet (the calendar's script still loading): once it is
      setTimeout(function () { if (!popup.hidden && !popup.contains(document.activeElement)) { calendar.focus(); } });
    });
    button.addEventListener("keydown", function (event) {   // Escape closes it from the button too
      if (event.key === "Escape" && !popup.hidden) { event.preventDefault(); close(true); }
    });
    calendar.addEventListener("change", function () {
      input.value = danish(calendar.value);
      input.dispatchEvent(new Event("change", { bubbles: true }));
      close(true);
    });
    popup.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { event.preventDefault(); close(true); }
    });
    document.addEventListener("click", function (event) {
      if (!popup.hidden && !popup.contains(event.target) && event.target !== button) { close(false); }
    });
  });
})();
