// Render the math that pymdownx.arithmatex (generic mode) wraps in <span|div class="arithmatex">,
// with the KaTeX files vendored beside this script (no network). Material's instant navigation
// swaps pages without a reload, so render on every page change.
function renderMath() {
  document.querySelectorAll(".arithmatex").forEach(function (el) {
    renderMathInElement(el, {
      delimiters: [
        { left: "\\(", right: "\\)", display: false },
        { left: "\\[", right: "\\]", display: true }
      ],
      throwOnError: false
    });
  });
}
if (typeof document$ !== "undefined") { document$.subscribe(renderMath); }
else { document.addEventListener("DOMContentLoaded", renderMath); }
