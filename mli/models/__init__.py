"""Layer 7, what the algorithms of one family share (the algorithms themselves live in
:mod:`mli.algorithms`):

* :mod:`~mli.models.linear` -- linear models fitted through :mod:`mli.optimize`;
* :mod:`~mli.models.loglinear` -- log-linear classifiers (Naive Bayes);
* :mod:`~mli.models.classifier` -- class predictions from per-class scores;
* :mod:`~mli.models.trees` -- histogram trees grown level by level, and forests;
* :mod:`~mli.models.clustering` -- initial centers (k-means++ / k-means||).

Imported by module (``from mli.models.linear import LinearAlgorithm``), so that using one
family does not compile the kernels of the others.
"""
