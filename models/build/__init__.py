"""Building the int8 ONNX embedding model (`python -m models.build`); not needed at run time.

`command` is the command line; `source` finds the weights, `export` writes the ONNX graph
(`bert_graph`) and quantizes it, checking it against a numpy forward pass (`reference`)
on `probe_sentences`.
"""
