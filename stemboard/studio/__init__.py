"""``stemboard studio``: a local web mixer over the node, the graph, presets and the renderer.

:class:`~stemboard.studio.workspace.Studio` holds a session (model, opened tracks, jobs, stem
cache); :func:`~stemboard.studio.app.create_app` puts it behind HTTP; :func:`serve` runs that on
a local address. Needs the ``studio`` extra (Starlette and uvicorn). See ``docs/studio.md``.
"""
