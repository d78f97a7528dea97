"""Local stand-ins for Microsoft 365 and SMTP: record what they receive, inject faults on request."""
