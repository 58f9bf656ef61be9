"""Dashboard sign-in sessions: a browser signs in once with an API key and gets a session cookie.

The key itself is never kept — not in the cookie, not in the session row: the row holds the key's SHA-256
(as the ``api_keys`` table does), and every request resolves the caller from it again, so a key revoked or
expired ends its dashboard sessions at once. The cookie holds a random token whose SHA-256 names the row
(a database leak yields no usable cookie); a session lasts :data:`.service.LIFETIME` and ends early on
sign-out. Each session carries its own CSRF token for the dashboard's forms.
"""
