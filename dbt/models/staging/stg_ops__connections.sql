-- One row per company x provider connection.
select
    company_id,
    provider,
    case
        when provider in ('quickbooks', 'xero') then 'accounting'
        else 'bank'
    end as provider_kind,
    external_id,
    display_name,
    status as connection_status,
    last_synced_at
from {{ source('ops', 'connections') }}
