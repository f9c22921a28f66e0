// Move keyboard and screen-reader focus to the error summary or conflict message, so a
// user who submitted a form hears what went wrong first.
(function () {
  var target = document.getElementById("konflikt") || document.getElementById("fejlopsummering") ||
               document.getElementById("fejl");
  if (target) { target.focus(); }
})();
