// Loaded after require.js and before embed-amd.js (see nb_ipywidgets_js in _config.yml).
(function () {
  // 1. Each AMD module of the widget manager's bundle (@jupyter-widgets/base, controls, base7,
  //    controls7, html-manager, html-manager/dist/libembed-amd) resolves the fonts of its CSS
  //    relative to its own module URI (webpack's public path from requirejs's module.uri). Map
  //    every one of those URIs to this folder of the site, where the fonts are; unmapped,
  //    "@jupyter-widgets/base" resolves beside the page and its fonts 404 there whenever the
  //    browser uses them.
  var here = document.currentScript.src.replace(/\/[^\/]*$/, "");
  window.requirejs.config({
    paths: { "@jupyter-widgets": here, "@jupyter-widgets/html-manager/dist": here },
  });

  // 2. The widget manager typesets widget text with the MathJax 2 API (MathJax.Hub.Queue);
  //    the site serves MathJax 3, which has no Hub. Give every MathJax object a Hub whose
  //    Queue typesets with MathJax 3 (or does nothing before MathJax has started: its startup
  //    typesets the whole page anyway).
  function shim(mj) {
    if (mj && typeof mj === "object" && !mj.Hub) {
      mj.Hub = {
        Queue: function () {
          for (var i = 0; i < arguments.length; i++) {
            var job = arguments[i];
            if (Array.isArray(job) && job[0] === "Typeset" && window.MathJax.typesetPromise) {
              window.MathJax.typesetPromise(job[2] ? [job[2]] : undefined).catch(function () {});
            }
          }
        },
      };
    }
    return mj;
  }
  var current = shim(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    get: function () { return current; },
    set: function (value) { current = shim(value); },
  });
})();
