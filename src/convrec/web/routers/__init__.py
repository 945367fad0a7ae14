"""One router per resource: auth, conv, mnist, movies, ratings, pages."""
