// The /docs page: Swagger UI (served by this app from the swagger-ui-bundle package) on
// the app's own schema. A file, not an inline script: the pages' CSP allows only 'self'.
"use strict";
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});
