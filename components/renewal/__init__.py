"""The renewal approver: a service on the masters that approves serving-certificate renewals."""
