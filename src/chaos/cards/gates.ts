/** The drill's gates, in order; their names are a contract (`chaos run --json`, the ledger). Pure: workflow code imports it. */
export const GATES = ['detected', 'incident', 'recovered', 'steady_state'] as const;
export type GateName = (typeof GATES)[number];
