-- One row per company, typed and named for BI.
select
    company_id,
    name as company_name,
    naics_code,
    substr(naics_code, 1, 2) as naics_sector,
    country,
    home_currency,
    fiscal_year_start_month,
    status as company_status,
    created_at as registered_at
from {{ source('ops', 'companies') }}
