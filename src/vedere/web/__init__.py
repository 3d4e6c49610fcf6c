"""The playground: ``vedere playground`` serves a page where a vedere network trains on 2-D
toy data while you watch (decision regions, loss curves, hidden units), and where images are
classified and faces found by vedere's own models.

Modules: ``params`` (the settings and their checks), ``session`` (one page's data, network
and training thread), ``registry`` (sessions by id, freed when their page goes),
``uploads`` (decoding, classifying and face-finding of uploaded images), ``server`` (the
Starlette app: page, static files, JSON API, server-sent events)."""
