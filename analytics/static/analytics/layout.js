// Small screens: the filters start folded (their summary opens them), so the page's content
// is on the first screen; a page showing an error keeps them open.
(function () {
  "use strict";
  var box = document.querySelector("details.filter-box");
  if (box && window.matchMedia("(max-width: 700px)").matches && !document.querySelector(".errors")) {
    box.open = false;
  }
})();
