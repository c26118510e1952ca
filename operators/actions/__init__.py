"""Acting on drift alerts: the policy (plan or start a reindex, publish a retrain
request), its audit log, the reindex runner, and the step that wires them into a flow."""
