"""The top layer, applications: the ``mli`` command line (:mod:`~mli.apps.cli`) and the
MovieLens recommendation workflow (:mod:`~mli.apps.movielens`). The only modules that print,
prompt, download or plot, and the only ones in :mod:`mli` that import :mod:`mli.algorithms`.
"""
