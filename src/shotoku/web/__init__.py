"""``shotoku serve``: the browser mixing console (FastAPI application, job store, page).

Needs the ``web`` extra (``pip install 'shotoku[web]'``); :mod:`shotoku.web.app` imports it.
"""
