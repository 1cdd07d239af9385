// Filters marked data-autosubmit apply as soon as they change (no inline handler: the
// Content-Security-Policy allows only script files).
(function () {
  "use strict";
  document.addEventListener("change", function (event) {
    var field = event.target;
    if (field.hasAttribute && field.hasAttribute("data-autosubmit") && field.form) {
      field.form.submit();
    }
  });
})();
