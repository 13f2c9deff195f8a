// Starts Redoc on the API reference page (/auth/docs and docs/api.html): the OpenAPI document is the
// page's own <script type="application/json" id="openapi"> block, so nothing is fetched at run time.
(function () {
  var spec = JSON.parse(document.getElementById('openapi').textContent);
  var options = {
    hideDownloadButton: false,
    expandResponses: '200,201',
    pathInMiddlePanel: true,
    theme: { typography: { fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif', headings: { fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif' }, code: { fontFamily: 'ui-monospace, "DejaVu Sans Mono", monospace' } } },
  };
  window.Redoc.init(spec, options, document.getElementById('redoc'));
})();
