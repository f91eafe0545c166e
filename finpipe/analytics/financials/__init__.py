"""Monthly statements, KPIs and health scores per company from the unified ledger.

:mod:`.statements` (P&L, balance sheet, indirect cash flow), :mod:`.kpis` (the KPI registry
and its formulas), :mod:`.health` (Altman Z″ and the 0-100 composite), :mod:`.build` (read
the ledger, write ``analytics.*``, read KPIs back)."""
