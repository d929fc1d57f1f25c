// Records script errors, failed resource loads and console.error calls on <html data-js-errors>,
// so a headless browser's DOM dump shows whether the page ran cleanly.
(function () {
  var errs = [];
  function rec(m) {
    errs.push(String(m).slice(0, 300));
    document.documentElement.setAttribute("data-js-errors", JSON.stringify(errs));
  }
  window.addEventListener("error", function (e) {
    if (e.target && e.target !== window && e.target.tagName) {
      rec("failed to load " + e.target.tagName.toLowerCase() + " " + (e.target.currentSrc || e.target.src || e.target.href || ""));
    } else {
      rec((e.message || "error") + " (line " + (e.lineno || "?") + ")");
    }
  }, true);
  window.addEventListener("unhandledrejection", function (e) { rec("unhandled rejection: " + e.reason); });
  document.addEventListener("securitypolicyviolation", function (e) { rec("CSP blocked " + e.violatedDirective + " " + e.blockedURI); });
  var original = console.error;
  console.error = function () { rec(Array.prototype.join.call(arguments, " ")); return original.apply(console, arguments); };
})();
