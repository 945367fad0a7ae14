// Movies: search, rate 1-5 (stored per user), recommendations folded in from your ratings,
// similar movies, the bias view and the PCA map.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const $ = (id) => document.getElementById(id);
  const userId = document.body.dataset.userId;
  const mine = new Map(); // movie id -> your rating
  const showError = (e) => { $("movies-error").textContent = e.message; };

  function stars(movie) {
    const box = document.createElement("span");
    box.className = "stars";
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", "your rating of " + movie.title);
    for (let k = 1; k <= 5; k++) {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = "★"; b.dataset.stars = String(k);
      b.setAttribute("aria-label", "rate " + k + (k === 1 ? " star" : " stars"));
      b.addEventListener("click", () => rate(movie, k));
      box.appendChild(b);
    }
    return box;
  }

  function paintStars() {
    document.querySelectorAll("li[data-movie]").forEach((li) => {
      const rating = mine.get(Number(li.dataset.movie)) || 0;
      li.querySelectorAll(".stars button").forEach((b) => {
        const on = Number(b.dataset.stars) <= rating;
        b.classList.toggle("on", on);
        b.setAttribute("aria-pressed", String(Number(b.dataset.stars) === rating));
      });
    });
  }

  /** One movie as a list item: title (year), genres, your stars, "similar", and a note. */
  function item(movie, note) {
    const li = document.createElement("li");
    li.dataset.movie = String(movie.movie_id);
    const title = document.createElement("span");
    title.className = "title";
    title.textContent = movie.title;
    li.appendChild(title);
    if (userId) li.appendChild(stars(movie));
    const similar = document.createElement("button");
    similar.type = "button"; similar.className = "small similar"; similar.textContent = "similar";
    similar.addEventListener("click", () => showSimilar(movie));
    li.appendChild(similar);
    const meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = (movie.genres || []).join(", ") + (note ? " · " + note : "");
    li.appendChild(meta);
    if (movie.explanation) {
      const why = document.createElement("div");
      why.className = "why";
      why.textContent = movie.explanation;
      li.appendChild(why);
    }
    return li;
  }

  function fill(list, movies, note) {
    $(list).replaceChildren(...movies.map((m) => item(m, note ? note(m) : "")));
    paintStars();
  }

  async function search(query) {
    $("movies-error").textContent = "";
    try {
      const out = await api("GET", "/api/movies/search?n=8&q=" + encodeURIComponent(query));
      fill("search-results", out.results);
    } catch (e) { showError(e); }
  }

  async function loadRatings() {
    if (!userId) return;
    const out = await api("GET", "/api/users/" + userId + "/ratings");
    mine.clear();
    out.data.forEach((r) => mine.set(r.movie_id, r.rating));
    $("ratings-info").textContent = out.count ? out.count + " rated, newest first"
                                              : "Rate movies with the stars.";
    fill("my-ratings", out.data.map((r) => ({ movie_id: r.movie_id, title: r.title || "movie " + r.movie_id })));
  }

  async function loadRecommendations() {
    if (!userId) return;
    const out = await api("GET", "/api/me/recommendations?n=10");
    $("recs-info").textContent = out.based_on
      ? "From your " + out.based_on + " rating" + (out.based_on === 1 ? "" : "s")
        + " (folded in and ranked in " + out.fold_in_ms.toFixed(1) + " ms)."
      : "Rate a few movies: this list follows your ratings at once.";
    fill("recs", out.recommendations, (m) => "predicted " + m.score.toFixed(1) + " stars");
  }

  async function rate(movie, value) {
    $("movies-error").textContent = "";
    try {
      await api("PUT", "/api/users/" + userId + "/ratings/" + movie.movie_id, { rating: value });
      mine.set(movie.movie_id, value);
      paintStars();
      await Promise.all([loadRatings(), loadRecommendations()]);
    } catch (e) { showError(e); }
  }

  async function showSimilar(movie) {
    $("movies-error").textContent = "";
    try {
      const out = await api("GET", "/api/movies/" + movie.movie_id + "/similar?n=8");
      $("similar-to").textContent = "Closest to “" + out.movie.title + "” by their learned factors:";
      fill("similar", out.similar, (m) => "cosine " + m.score.toFixed(2));
    } catch (e) { showError(e); }
  }

  async function loadBiases() {
    const out = await api("GET", "/api/movies/biases?n=5");
    const rows = (list) => list.map((b) => {
      const li = document.createElement("li");
      li.textContent = b.title + " (" + (b.bias >= 0 ? "+" : "") + b.bias.toFixed(2) + ")";
      return li;
    });
    $("bias-low").replaceChildren(...rows(out.lowest));
    $("bias-high").replaceChildren(...rows(out.highest));
  }

  $("search-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const query = $("movie-search").value.trim();
    if (query) search(query);
  });
  $("show-map").addEventListener("click", () => {
    const img = $("movie-map");
    img.onerror = () => { $("movies-error").textContent = "the map could not be drawn (see /api/movies/map.png)"; };
    img.src = "/api/movies/map.png?n=50";
    img.hidden = false;
  });

  Promise.all([loadBiases(), loadRatings().then(loadRecommendations)]).catch(showError);
});
