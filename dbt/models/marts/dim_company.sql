-- The company dimension BI tools join every fact to: who the company is, which sources
-- feed it and how many of its connections are live.
with connections as (
    select
        company_id,
        count(*) as connections,
        sum(case when connection_status = 'active' then 1 else 0 end) as active_connections,
        sum(case when provider_kind = 'accounting' then 1 else 0 end) as accounting_connections,
        sum(case when provider_kind = 'bank' then 1 else 0 end) as bank_connections,
        max(last_synced_at) as last_synced_at
    from {{ ref('stg_ops__connections') }}
    group by company_id
)

select
    c.company_id,
    c.company_name,
    c.naics_code,
    c.naics_sector,
    c.country,
    c.home_currency,
    c.fiscal_year_start_month,
    c.company_status,
    c.registered_at,
    coalesce(x.connections, 0) as connections,
    coalesce(x.active_connections, 0) as active_connections,
    coalesce(x.accounting_connections, 0) as accounting_connections,
    coalesce(x.bank_connections, 0) as bank_connections,
    x.last_synced_at
from {{ ref('stg_ops__companies') }} as c
left join connections as x using (company_id)
