"""HTTP clients for the two CRM flavours, used by the CRM pull (dlt) and the push (reverse ETL)."""
