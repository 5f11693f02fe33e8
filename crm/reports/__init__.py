"""Manager reports: response-time figures and safe CSV export."""
