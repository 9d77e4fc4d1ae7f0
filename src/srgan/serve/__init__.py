"""The local web page and HTTP API behind ``srgan serve``.

``srgan.serve.app.create_app`` builds the FastAPI app; ``srgan.serve.server.serve`` runs it under
uvicorn. Both need the ``web`` extra (``pip install 'srgan[web]'``), which is why nothing is imported
here: ``import srgan.serve`` must not fail, or cost anything, on an install without it.
"""
