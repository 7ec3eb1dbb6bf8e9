"""The web console: static files served at /console, a client of the public API only.

No build step: HTML, CSS and ES modules ship in the package and are served as they are
(`router.mount_console`). Every console response carries a Content-Security-Policy that allows
scripts, styles and requests from this origin only, and no inline script: the pages hold no
secret of their own and call the same routes, with the same bearer token, as any other client.
"""
