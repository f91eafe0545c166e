"""Ranked, verified insights per company (plain Python, no Dagster).

:mod:`.facts` computes typed facts, each number with the recipe (:mod:`.recipes`) that
recomputes it from the warehouse; :mod:`.generate` writes insights from facts by template
(number formats in :mod:`.formats`) and :mod:`.rank` ranks them by estimated money impact x
confidence; :mod:`.verify` recomputes every cited number from the tables; :mod:`.build` runs it
end to end; :mod:`.narrative` optionally asks an OpenAI-compatible endpoint for a summary of the
verified facts and keeps it only when every number in it is a fact's number.
"""
