"""Layer 8, pipelines: featurizing stages chained into one model, fitted once, saved with the
model (``Tokenizer() | HashingTF() | NaiveBayes()``).

* :mod:`~mli.pipeline.stages` -- ``Transformer``, ``Estimator``, ``Stages``;
* :mod:`~mli.pipeline.batches` -- what an estimating stage sees (``Batches``) and the
  normalization of pipeline input (``Source``);
* :mod:`~mli.pipeline.transform` -- fitted stages applied to any input kind;
* :mod:`~mli.pipeline.pipeline` -- ``Pipeline`` (an Algorithm) and ``PipelineModel``;
* :mod:`~mli.pipeline.saving` -- how a PipelineModel's stages are saved and loaded.
"""
from mli.pipeline.batches import Batches, record_error
from mli.pipeline.pipeline import Pipeline, PipelineModel
from mli.pipeline.stages import Estimator, Stage, Stages, Transformer

__all__ = ["Stage", "Transformer", "Estimator", "Pipeline", "PipelineModel", "Stages",
           "Batches", "record_error"]
