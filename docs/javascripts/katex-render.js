// Typesets every math element pymdownx.arithmatex (generic mode) writes: <span class="arithmatex">\( x \)</span>
// and <div class="arithmatex">\[ x \]</div>. Each one rendered gets data-math="typeset"; one KaTeX cannot
// parse is logged as a console error (tests/test_docs_site.py fails on both: an untypeset element, an error).
// Runs on every page view, including mkdocs-material's instant navigation (document$).
function minidlTypesetMath(root) {
  root.querySelectorAll(".arithmatex").forEach(function (el) {
    if (el.dataset.math === "typeset") return;
    var display = el.tagName === "DIV";
    var tex = el.textContent.trim().replace(/^\\[\(\[]/, "").replace(/\\[\)\]]$/, "");
    try {
      katex.render(tex, el, { displayMode: display, throwOnError: true });
      el.dataset.math = "typeset";
    } catch (err) {
      el.dataset.math = "error";
      console.error("KaTeX could not typeset " + JSON.stringify(tex) + ": " + err.message);
    }
  });
}

if (typeof document$ !== "undefined") {
  document$.subscribe(function (doc) { minidlTypesetMath(doc.body || document.body); });
} else {
  document.addEventListener("DOMContentLoaded", function () { minidlTypesetMath(document.body); });
}
