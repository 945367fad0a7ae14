// Sign-up and log-in form.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("auth-form");
  const error = document.getElementById("auth-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = event.submitter && event.submitter.value === "signup" ? "signup" : "login";
    error.textContent = "";
    try {
      await api("POST", "/api/auth/" + action, {
        username: document.getElementById("username").value,
        password: document.getElementById("password").value,
      });
      const next = new URLSearchParams(window.location.search).get("next");
      window.location.href = next && next.startsWith("/") && !next.startsWith("//") ? next : "/";
    } catch (e) {
      error.textContent = e.message;
    }
  });
});
