// Swagger UI for /api/docs: a static file, not an inline script, so the Content-Security-Policy can forbid those.
"use strict";
window.addEventListener("DOMContentLoaded", () => {
  const root = document.getElementById("swagger-ui");
  window.ui = window.SwaggerUIBundle({
    url: root.dataset.schemaUrl,
    domNode: root,
    deepLinking: true,
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // the schema is fetched with the page's session; "Try it out" calls carry the bearer token typed in Authorize
    withCredentials: true,
  });
});
